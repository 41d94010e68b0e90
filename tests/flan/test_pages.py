"""The browser side of Flan: import a dataset (errors beside the field), write a template with a live preview
that names problems as you type, save versions, start a render, and ask an export for a mixture."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import Export, Job, PromptTemplate
from tests.conftest import login
from tests.exports.conftest import add_project

JSONL = b'{"review": "Great soup.", "label": 1}\n{"review": "Cold soup.", "label": 0}\n'


def _token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)


def _setup(client, db, make_user):
    admin = make_user("admin")
    project = add_project(db)
    db.commit()
    login(client, admin.email)
    return project.slug


def _upload(client, slug: str, body: bytes, name: str = "soups", file_name: str = "soups.jsonl"):
    token = _token(client, f"/projects/{slug}/datasets")
    return client.post(f"/projects/{slug}/datasets", headers={"X-CSRFToken": token}, follow_redirects=False,
                       data={"name": name, "task": "soup_sentiment", "source": "Flan2021"},
                       files={"file": (file_name, body)})


def test_dataset_upload_shows_bad_rows_beside_the_file_and_keeps_what_was_typed(client, db, make_user):
    slug = _setup(client, db, make_user)
    bad = _upload(client, slug, b'{"review": "a", "label": 1}\n{"review": "b", "label": "one"}\n')
    assert bad.status_code == 422
    assert "row 2: field &#39;label&#39; is text here, but number in row 1" in bad.text
    assert 'value="soups"' in bad.text and 'value="soup_sentiment"' in bad.text
    ok = _upload(client, slug, JSONL)
    assert ok.status_code == 303 and ok.headers["location"] == f"/projects/{slug}/datasets/soups"
    page = client.get(ok.headers["location"])
    assert "2 records" in page.text and "review: text" in page.text and "Great soup." in page.text
    assert "has no templates yet" in page.text


def test_template_editor_previews_as_you_type_and_saves_versions(client, db, make_user):
    slug = _setup(client, db, make_user)
    assert _upload(client, slug, JSONL).status_code == 303
    token = _token(client, f"/projects/{slug}/templates/new?task=soup_sentiment")
    draft = {"csrftoken": token, "task": "soup_sentiment", "name": "liked", "type": "zero-shot",
             "answer_choices": "no ||| yes"}
    htmx = {"HX-Request": "true", "X-CSRFToken": token}
    undefined = client.post(f"/projects/{slug}/templates/draft", headers=htmx,
                            data={**draft, "jinja": "{{ titel }} ||| {{ answer_choices[label] }}"})
    assert undefined.text.lstrip().startswith('<section id="preview"') and "<html" not in undefined.text
    assert "&#39;titel&#39; is not a field of the dataset&#39;s records (fields: review, label)" in undefined.text
    assert 'data-code="undefined_field"' in undefined.text
    missing = client.post(f"/projects/{slug}/templates/draft", headers=htmx, data={**draft, "jinja": "{{ review }}"})
    assert "the template has no &#39;|||&#39; between the input and the target" in missing.text
    syntax = client.post(f"/projects/{slug}/templates/draft", headers=htmx, data={**draft, "jinja": "{{ review } |||"})
    assert 'data-code="syntax"' in syntax.text
    good = client.post(f"/projects/{slug}/templates/draft", headers=htmx,
                       data={**draft, "jinja": "{{ review }} Liked? ||| {{ answer_choices[label] }}",
                             "preview_setting": "zs-opt"})
    assert good.text.count('class="preview-row"') == 2 and "Great soup. Liked?" in good.text
    assert '<pre class="target">yes</pre>' in good.text

    refused = client.post(f"/projects/{slug}/templates/save", data={**draft, "jinja": "{{ review.__class__ }} |||"})
    assert refused.status_code == 422 and "{{ review.__class__ }} |||" in refused.text
    assert "&#39;__class__&#39; is not reachable from a template" in refused.text
    saved = client.post(f"/projects/{slug}/templates/save", follow_redirects=False,
                        data={**draft, "jinja": "{{ review }} Liked? ||| {{ answer_choices[label] }}"})
    assert saved.status_code == 303
    template = db.scalar(select(PromptTemplate).where(PromptTemplate.name == "liked"))
    edited = client.post(f"/projects/{slug}/templates/save", follow_redirects=False,
                         data={**draft, "template_id": str(template.id),
                               "jinja": "{{ review }}\nDid they like it? ||| {{ answer_choices[label] }}"})
    assert edited.status_code == 303
    db.refresh(template)
    assert template.version == 2
    library = client.get(f"/projects/{slug}/templates")
    assert "liked" in library.text and "v2" in library.text and "Export as promptsource YAML" in library.text


def test_render_form_queues_a_job_and_the_dataset_page_shows_its_result(client, db, make_user):
    slug = _setup(client, db, make_user)
    assert _upload(client, slug, JSONL).status_code == 303
    token = _token(client, f"/projects/{slug}/templates/new?task=soup_sentiment")
    client.post(f"/projects/{slug}/templates/save", data={
        "csrftoken": token, "task": "soup_sentiment", "name": "liked", "type": "zero-shot",
        "jinja": "{{ review }} ||| {{ label }}"})
    token = _token(client, f"/projects/{slug}/datasets/soups")
    bad = client.post(f"/projects/{slug}/datasets/soups/render",
                      data={"csrftoken": token, "settings": ["fs-opt"], "k": "3", "token_budget": "1920"})
    assert bad.status_code == 422 and "few-shot settings need few-shot or cot templates" in bad.text
    started = client.post(f"/projects/{slug}/datasets/soups/render", follow_redirects=False,
                          data={"csrftoken": token, "settings": ["zs-opt", "zs-noopt"], "k": "2", "seed": "4",
                                "token_budget": "512", "tokenizer": "whitespace"})
    assert started.status_code == 303
    job = db.scalar(select(Job).where(Job.kind == "render-templates"))
    assert job.params["settings"] == ["zs-opt", "zs-noopt"] and job.params["seed"] == 4
    job.result = {"rows_added": 4, "by_setting": {"zs-opt": 2, "zs-noopt": 2}, "by_template": {"liked": 4},
                  "tokenizer": "whitespace (words split on spaces)", "token_budget": 512, "k": 2, "seed": 4}
    job.reasons = {"undefined_field": 1}
    db.commit()
    page = client.get(f"/projects/{slug}/datasets/soups")
    assert f'id="job-{job.id}"' in page.text and "4 instructions, each with a reference candidate" in page.text
    assert "undefined_field" in page.text and "whitespace (words split on spaces)" in page.text
    # The shared job page shows the same panel, and its form is drawn from the kind's parameters.
    assert "4 instructions, each with a reference candidate" in client.get(f"/jobs/{job.id}").text
    form = client.get(f"/jobs/new?project={slug}&kind=render-templates").text
    assert 'name="token_budget"' in form and 'value="fs-noopt"' in form and 'name="dataset"' in form


def test_export_form_asks_for_a_mixture_and_shows_why_it_cannot_be_met(client, db, make_user):
    slug = _setup(client, db, make_user)
    token = _token(client, "/exports")
    data = {"csrftoken": token, "project": slug, "format": "sft-alpaca", "seed": "0", "eval_fraction": "0",
            "mixture_preset": "custom", "mixture_total": "100", "mixture_weights": "T0=0.5\nCoT=0.4"}
    bad = client.post("/exports", data=data)
    assert bad.status_code == 422 and "the weights sum to 0.9; they must sum to 1" in bad.text
    assert "T0=0.5\nCoT=0.4" in bad.text
    none = client.post("/exports", data={**data, "mixture_preset": "flan2022", "mixture_weights": ""})
    assert none.status_code == 422 and "no rows with _task_source and _task_name" in none.text
    assert db.scalar(select(Export.id)) is None
