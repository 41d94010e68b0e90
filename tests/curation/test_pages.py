"""The curation page and the project page as an admin sees them: scores with their histograms and slider data,
subsets, leaks, and the data by construction method; the subsets API's errors."""

from __future__ import annotations

import json
import re

from app.curation import scores, subsets
from app.models import Candidate, Instruction, LeakageFlag, Project, ScoreKind
from tests.conftest import login


def _seed(db):
    project = Project(name="Pages", slug="pages")
    db.add(project)
    db.flush()
    made = []
    for k, construction in enumerate(["human", "human", "distilled", "template", "self-generated"]):
        inst = Instruction(project_id=project.id, instruction=f"Item {k}", content_hash=f"p{k}",
                           construction=construction)
        db.add(inst)
        db.flush()
        db.add(Candidate(instruction_id=inst.id, text="answer", construction="distilled"))
        made.append(inst.id)
    scores.record(db, project_id=project.id, kind=ScoreKind.judge, source="teacher",
                  rows=[{"instruction_id": i, "score": s} for i, s in zip(made, [5, 4.5, 3, 2, 5], strict=True)])
    subsets.add_members(db, project_id=project.id, name="best-2", instruction_ids=made[:2], scores=[5, 4.5],
                        job_id=None, meta={"method": "score-first", "threshold": 0.9, "rank_by": "judge"})
    db.add(LeakageFlag(project_id=project.id, instruction_id=made[3], reference_id=made[4], similarity=0.95,
                       model="m"))
    db.flush()
    return project, made


def test_curation_page_shows_scores_subsets_leaks_and_methods(client, db, make_user):
    admin = make_user("admin")
    project, _ = _seed(db)
    login(client, admin.email)
    page = client.get(f"/projects/{project.slug}/curation")
    assert page.status_code == 200
    data = json.loads(re.search(r'<script type="application/json" id="score-data">(.*?)</script>', page.text,
                                re.S).group(1))
    judge = data["judge"]
    # The slider counts from these: five scores, two at 5, and the histogram holds all of them.
    assert judge["values"] == [2.0, 3.0, 4.5, 5.0, 5.0] and sum(judge["counts"]) == 5 and judge["mean"] == 3.9
    assert 'data-series="judge"' in page.text and "data-threshold" in page.text and "js/curation.js" in page.text
    assert 'data-subset="best-2"' in page.text and '<strong data-leaks>1</strong>' in page.text
    methods = dict(re.findall(r'<tr data-method="([a-z-]+)"><td>[a-z-]+</td><td class="num">(\d+)</td>', page.text))
    assert methods == {"human": "2", "template": "1", "distilled": "1", "self-generated": "1"}
    project_page = client.get(f"/admin/projects/{project.slug}")
    assert 'id="construction"' in project_page.text and 'data-method="distilled"' in project_page.text


def test_subsets_api(client, db, make_user, token_for):
    project, made = _seed(db)
    headers = token_for(make_user("reviewer"))
    got = client.get(f"/api/v1/projects/{project.slug}/subsets/best-2", headers=headers)
    assert got.status_code == 200 and got.json()["instruction_ids"] == made[:2] and got.json()["rounds"] == 1
    missing = client.get(f"/api/v1/projects/{project.slug}/subsets/nope", headers=headers)
    assert missing.status_code == 404 and "no subset 'nope'" in missing.json()["error"]["message"]
    listed = client.get(f"/api/v1/projects/{project.slug}/subsets", headers=headers).json()
    assert [s["name"] for s in listed] == ["best-2"]
    export = client.post(f"/api/v1/projects/{project.slug}/exports", headers=token_for(make_user("admin")),
                         json={"format": "sft-messages", "filters": {"subset": "nope"}})
    assert export.status_code == 422 and export.json()["error"]["details"][0]["field"] == "filters.subset"


def test_every_curation_kind_has_a_form_and_errors_sit_beside_the_field(client, db, make_user):
    from tests.conftest import csrf_from

    admin = make_user("admin")
    project, _ = _seed(db)
    login(client, admin.email)
    for kind in ("curate", "diversity", "quality-score", "quality-filter"):
        page = client.get(f"/jobs/new?project={project.slug}&kind={kind}")
        assert page.status_code == 200, kind
    assert 'name="target_n"' in client.get(f"/jobs/new?project={project.slug}&kind=curate").text
    another_round = client.get(f"/jobs/new?project={project.slug}&kind=curate&subset=best-2")
    assert 'value="best-2"' in another_round.text  # the curation page's "Add a round" link
    posted = client.post("/jobs", data={"project": project.slug, "kind": "curate", "target_n": "99",
                                        "embedding_model": "/no/such/model", "csrftoken": csrf_from(client)})
    assert posted.status_code == 422
    assert "is not there" in posted.text and 'value="99"' in posted.text


def test_exports_page_takes_a_subset_and_names_an_unknown_one_beside_the_field(client, db, make_user):
    from tests.conftest import csrf_from

    admin = make_user("admin")
    project, _ = _seed(db)
    login(client, admin.email)
    posted = client.post("/exports", data={"project": project.slug, "format": "sft-messages", "subset": "nope",
                                           "csrftoken": csrf_from(client)})
    assert posted.status_code == 422
    assert 'id="x-subset"' in posted.text and "has no subset &#39;nope&#39;" in posted.text


def test_ablation_form_says_what_is_missing_and_keeps_what_was_typed(client, db, make_user):
    from tests.conftest import csrf_from

    admin = make_user("admin")
    project, _ = _seed(db)
    login(client, admin.email)
    page = client.get(f"/projects/{project.slug}/ablations")
    assert page.status_code == 200 and 'value="best-2"' in page.text
    form = {"base_model": "/models/tiny", "subset": "best-2", "arm": ["curated", "whole"], "max_steps": "5",
            "csrftoken": csrf_from(client)}
    posted = client.post(f"/projects/{project.slug}/ablations", data=form)
    assert posted.status_code == 422
    assert 'id="err-evaluation"' in posted.text and "approve some instructions of split" in posted.text
    assert 'value="/models/tiny"' in posted.text
    one = client.post(f"/projects/{project.slug}/ablations", data={**form, "arm": ["whole"]})
    assert one.status_code == 422 and 'id="err-arms"' in one.text


def test_ablation_form_sets_max_length_and_the_adapter_for_every_arm(client, db, make_user):
    """The one screen sets what a small, quick ablation needs: the sequence length and the LoRA rank and alpha."""
    from app.models import Ablation
    from tests.conftest import csrf_from
    from tests.exports.conftest import add_approved

    admin = make_user("admin")
    project, _ = _seed(db)
    for k in range(3):
        add_approved(db, project, instruction=f"Train {k}", candidates=[f"answer {k}"])
    add_approved(db, project, instruction="Held out", split="eval", candidates=["answer"])
    db.commit()
    login(client, admin.email)
    page = client.get(f"/projects/{project.slug}/ablations")
    assert all(f'name="{name}"' in page.text for name in ("max_length", "lora_r", "lora_alpha"))
    form = {"base_model": "/models/tiny", "subset": "best-2", "arm": ["curated", "whole"], "max_steps": "2",
            "max_length": "64", "lora_r": "8", "lora_alpha": "16", "csrftoken": csrf_from(client)}
    posted = client.post(f"/projects/{project.slug}/ablations", data=form, follow_redirects=False)
    assert posted.status_code == 303, posted.text[:2000]
    ablation = db.get(Ablation, int(posted.headers["location"].rsplit("/", 1)[-1]))
    assert ablation.settings["hyperparameters"] == {"max_steps": "2", "max_length": "64"}
    assert ablation.settings["lora"] == {"r": "8", "alpha": "16"}
