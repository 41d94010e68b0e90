"""Templates over REST: refused when they do not compile or reach outside the record, versioned on edit, and
previewed on stored records with per-record errors."""

from __future__ import annotations

from tests.exports.conftest import add_project

RECORDS = [{"review": f"Review {i}: the soup was {'great' if i % 2 else 'cold'}.", "label": i % 2}
           for i in range(7)]


def _setup(client, db, headers):
    project = add_project(db)
    db.commit()
    resp = client.post(f"/api/v1/projects/{project.slug}/datasets", headers=headers,
                       json={"name": "soups", "task": "soup_sentiment", "source": "Flan2021", "records": RECORDS})
    assert resp.status_code == 201
    db.commit()
    return project.slug


def test_create_refuses_what_does_not_compile_or_reaches_outside(client, db, admin_headers):
    slug = _setup(client, db, admin_headers)
    url = f"/api/v1/projects/{slug}/templates"
    cases = [("{{ review }", "syntax"), ("{{ review }}", "missing_separator"),
             ("{{ review.__class__ }} ||| {{ label }}", "private_attribute"),
             ("{{ reviw }} ||| {{ label }}", "undefined_field"),
             ("{% include 'secrets.txt' %} ||| x", "no_imports")]
    for jinja, code in cases:
        resp = client.post(url, headers=admin_headers, json={"task": "soup_sentiment", "name": "t", "jinja": jinja})
        assert resp.status_code == 422, jinja
        assert code in {d["code"] for d in resp.json()["error"]["details"]}, (jinja, resp.json())


def test_an_edit_makes_a_new_version_and_the_old_one_stays(client, db, admin_headers):
    slug = _setup(client, db, admin_headers)
    resp = client.post(f"/api/v1/projects/{slug}/templates", headers=admin_headers,
                       json={"task": "soup_sentiment", "name": "liked", "jinja": "{{ review }} Liked? ||| "
                             "{{ answer_choices[label] }}", "answer_choices": "no ||| yes",
                             "metadata": {"original_task": True, "metrics": ["Accuracy"], "languages": ["en"]}})
    assert resp.status_code == 201, resp.text
    tid = resp.json()["id"]
    assert resp.json()["version"] == 1
    same = client.put(f"/api/v1/templates/{tid}", headers=admin_headers,
                      json={"jinja": "{{ review }} Liked? ||| {{ answer_choices[label] }}"})
    assert same.json()["status"] == "unchanged" and same.json()["version"] == 1
    edited = client.put(f"/api/v1/templates/{tid}", headers=admin_headers,
                        json={"jinja": "{{ review }}\nDid they like it? ||| {{ answer_choices[label] }}"})
    assert edited.json() == {"id": tid, "version": 2, "name": "liked", "task": "soup_sentiment", "status": "updated"}
    one = client.get(f"/api/v1/templates/{tid}", headers=admin_headers).json()
    assert one["versions"] == [1, 2] and one["current"]["jinja"].startswith("{{ review }}\nDid")
    assert one["current"]["metadata"]["metrics"] == ["Accuracy"]
    old = client.get(f"/api/v1/templates/{tid}/versions/1", headers=admin_headers).json()
    assert old["jinja"] == "{{ review }} Liked? ||| {{ answer_choices[label] }}"
    bad = client.put(f"/api/v1/templates/{tid}", headers=admin_headers, json={"jinja": "{{ review }}"})
    assert bad.status_code == 422


def test_preview_renders_five_records_and_names_problems(client, db, admin_headers):
    slug = _setup(client, db, admin_headers)
    url = f"/api/v1/projects/{slug}/templates/preview"
    good = client.post(url, headers=admin_headers, json={
        "task": "soup_sentiment", "jinja": "{{ review }} ||| {{ answer_choices[label] }}",
        "answer_choices": "no ||| yes", "setting": "zs-opt"}).json()
    assert good["problems"] == [] and good["dataset"] == "soups" and len(good["rows"]) == 5
    assert good["rows"][1]["input"].startswith("Review 1: the soup was great.\n\n")
    assert good["rows"][1]["input"].endswith("yes") and good["rows"][1]["target"] == "yes"
    undefined = client.post(url, headers=admin_headers, json={"task": "soup_sentiment",
                                                               "jinja": "{{ title }} ||| {{ label }}"}).json()
    assert [p["code"] for p in undefined["problems"]] == ["undefined_field"]
    assert {r["code"] for r in undefined["rows"]} == {"undefined_field"}
    assert undefined["rows"][0]["error"] == "'title' is undefined"
    missing = client.post(url, headers=admin_headers, json={"task": "soup_sentiment", "jinja": "{{ review }}"}).json()
    assert [p["code"] for p in missing["problems"]] == ["missing_separator"]
