"""promptsource YAML: a file in promptsource's own format (written by yaml.dump of YAMLObjects, as promptsource's
DatasetTemplates.write_to_file does) is read and written back byte for byte, through the database too."""

from __future__ import annotations

from pathlib import Path

from app.prompts import promptsource
from tests.exports.conftest import add_project

FIXTURE = Path(__file__).parent / "fixtures" / "templates.yaml"
YAML = {"Content-Type": "application/yaml"}


def test_parse_and_dump_round_trip_byte_for_byte():
    text = FIXTURE.read_text(encoding="utf-8")
    parsed = promptsource.parse(text)
    assert parsed.task == "tuneloop_recipes/reviews"
    assert [t.name for t in parsed.templates] == ["recipe_sentiment", "recipe_sentiment_options",
                                                  "title_from_review", "label_words"]
    assert parsed.templates[2].jinja.startswith("Write a short title for this review \u2014 caf\u00e9 style")
    assert promptsource.dump(parsed) == text


def test_unknown_keys_and_left_out_keys_survive():
    text = ("dataset: d\ntemplates:\n  abc: !Template\n    answer_choices: null\n    id: abc\n    jinja: x ||| y\n"
            "    metadata: !TemplateMetadata\n      _do_train: true\n      metrics: []\n      original_task: null\n"
            "    name: n\n    reference: ''\n    zz_future_key: 3\n")
    assert promptsource.dump(promptsource.parse(text)) == text


def test_import_then_export_through_the_api_is_the_same_file(client, db, admin_headers):
    project = add_project(db)
    text = FIXTURE.read_bytes()
    resp = client.post(f"/api/v1/projects/{project.slug}/templates", headers={**admin_headers, **YAML}, content=text)
    assert resp.status_code == 201, resp.text
    created = resp.json()["templates"]
    assert [(t["name"], t["version"], t["status"]) for t in created][:2] == [("recipe_sentiment", 1, "created"),
                                                                          ("recipe_sentiment_options", 1, "created")]
    assert {t["task"] for t in created} == {"tuneloop_recipes/reviews"}
    out = client.get(f"/api/v1/projects/{project.slug}/templates/export",
                     params={"task": "tuneloop_recipes/reviews"}, headers=admin_headers)
    assert out.status_code == 200 and out.headers["content-type"].startswith("application/yaml")
    assert out.content == text
    # Importing the same file again changes nothing.
    again = client.post(f"/api/v1/projects/{project.slug}/templates", headers={**admin_headers, **YAML}, content=text)
    assert {t["status"] for t in again.json()["templates"]} == {"unchanged"}


def test_a_file_that_is_not_promptsource_is_refused(client, db, admin_headers):
    project = add_project(db)
    resp = client.post(f"/api/v1/projects/{project.slug}/templates", headers={**admin_headers, **YAML},
                       content=b"dataset: d\ntemplates:\n  a: !Template\n    jinja: 3\n    name: n\n    id: a\n")
    assert resp.status_code == 422
    assert "'jinja' must be text" in resp.json()["error"]["message"]
