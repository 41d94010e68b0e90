"""Access matrix: every route of the app × every kind of caller, checked against who may do what.

The routes come from create_app().routes, so a route added later cannot escape: one that neither the table
nor a prefix rule classifies fails the test with the line to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

import pytest
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import Mount

from tests.reliability.conftest import CALLER_ROLE, CALLERS, World, assert_error_shape

Level = Literal["public", "user", "reviewer", "admin", "token"]
RANK = {None: 0, "annotator": 1, "reviewer": 2, "admin": 3}
# "token": /v1 speaks OpenAI's protocol, so a bearer token of any role gets in and nothing else does.
NEEDS = {"public": 0, "user": 1, "reviewer": 2, "admin": 3, "token": 1}

# Who may call each route: the least role that gets through. Add a line here for every new route.
ROUTES: dict[tuple[str, str], Level] = {
    ("GET", "/api/v1/health"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "public",  # ends whatever session there is; harmless without one
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
    ("GET", "/favicon.ico"): "public",
    ("GET", "/"): "user",
    ("GET", "/api/v1/me"): "user",
    # projects and instructions (API.md); curating data (ingest, edit, delete) is a reviewer's job
    ("GET", "/api/v1/projects"): "user",
    ("GET", "/api/v1/projects/{slug}"): "user",
    ("POST", "/api/v1/projects"): "admin",
    ("PATCH", "/api/v1/projects/{slug}"): "admin",
    ("POST", "/api/v1/projects/{slug}/instructions"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/instructions"): "user",
    ("GET", "/api/v1/instructions/{instruction_id}"): "user",
    ("PATCH", "/api/v1/instructions/{instruction_id}"): "reviewer",
    ("DELETE", "/api/v1/instructions/{instruction_id}"): "reviewer",
    ("DELETE", "/api/v1/candidates/{candidate_id}"): "admin",  # removing data others judged (issue 10)
    # annotation: every signed-in user annotates; whose annotation it is, the service checks (own-work tests)
    ("POST", "/api/v1/projects/{slug}/tasks/next"): "user",
    ("POST", "/api/v1/annotations/{annotation_id}/draft"): "user",
    ("POST", "/api/v1/annotations/{annotation_id}/submit"): "user",
    ("POST", "/api/v1/annotations/{annotation_id}/skip"): "user",
    ("POST", "/api/v1/instructions/{instruction_id}/annotations"): "user",
    ("GET", "/projects/{slug}"): "user",
    ("GET", "/projects/{slug}/progress"): "user",
    ("GET", "/projects/{slug}/annotate"): "user",
    ("GET", "/projects/{slug}/tasks/{annotation_id}"): "user",
    ("POST", "/annotations/{annotation_id}/draft"): "user",
    ("POST", "/annotations/{annotation_id}/submit"): "user",
    ("POST", "/annotations/{annotation_id}/skip"): "user",
    ("GET", "/projects/{slug}/history"): "user",  # the caller's own annotations only
    ("POST", "/annotations/{annotation_id}/revise"): "user",
    ("POST", "/review/{instruction_id}/candidates/{candidate_id}/remove"): "admin",
    # review
    ("POST", "/api/v1/instructions/{instruction_id}/approve"): "reviewer",
    ("GET", "/api/v1/instructions/{instruction_id}/approval"): "reviewer",
    # tuning runs (issue 6): annotators reach none of it; reviewers may read a run's state and a generation
    # job's status; events, artifacts and every action are for admins (prefix rules below)
    ("GET", "/api/v1/tuning-runs"): "reviewer",
    ("GET", "/api/v1/tuning-runs/{run_id}"): "reviewer",
    ("GET", "/api/v1/tuning-runs/{run_id}/events"): "admin",
    ("GET", "/api/v1/tuning-runs/{run_id}/artifacts"): "admin",
    ("GET", "/api/v1/tuning-runs/{run_id}/artifacts/{name}"): "admin",
    ("GET", "/api/v1/generations/{job_id}"): "reviewer",
    # jobs (issue 11): reviewers may follow a job; starting one and every action are for admins
    ("GET", "/api/v1/projects/{slug}/jobs"): "reviewer",
    ("GET", "/api/v1/jobs/{job_id}"): "reviewer",
    ("GET", "/api/v1/jobs/{job_id}/items"): "reviewer",
    ("GET", "/api/v1/jobs/{job_id}/events"): "reviewer",
    # document collections (issue 14): reviewers read and search; uploading and deleting are for admins
    ("POST", "/api/v1/projects/{slug}/documents"): "admin",
    ("GET", "/api/v1/projects/{slug}/documents"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/passages/search"): "reviewer",
    ("GET", "/api/v1/documents/{document_id}"): "reviewer",
    ("GET", "/api/v1/documents/{document_id}/passages"): "reviewer",
    ("DELETE", "/api/v1/documents/{document_id}"): "admin",
    ("GET", "/projects/{slug}/documents"): "admin",
    ("POST", "/projects/{slug}/documents"): "admin",
    # curation (issue 17): reviewers may read subsets and an ablation's table; starting and the pages are for admins
    ("GET", "/api/v1/projects/{slug}/subsets"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/subsets/{name}"): "reviewer",
    ("POST", "/api/v1/projects/{slug}/ablations"): "admin",
    ("GET", "/api/v1/ablations/{ablation_id}"): "reviewer",
    ("GET", "/projects/{slug}/curation"): "admin",
    ("GET", "/projects/{slug}/ablations"): "admin",
    ("POST", "/projects/{slug}/ablations"): "admin",
    ("GET", "/ablations/{ablation_id}"): "admin",
    # evaluation (issue 15): reviewers read sets, benchmarks, comparisons and rounds; admins create and run them;
    # every user judges the pairs they are given (whose verdict it is, the service checks)
    ("GET", "/api/v1/projects/{slug}/evaluation-sets"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/evaluation-sets/{name}"): "reviewer",
    ("POST", "/api/v1/projects/{slug}/evaluation-sets"): "admin",
    ("GET", "/api/v1/projects/{slug}/benchmarks"): "reviewer",
    ("POST", "/api/v1/projects/{slug}/benchmarks"): "admin",
    ("POST", "/api/v1/projects/{slug}/comparisons"): "admin",
    ("GET", "/api/v1/comparisons/{comparison_id}"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/rounds"): "reviewer",
    ("GET", "/comparisons/{comparison_id}/annotate"): "user",
    ("POST", "/verdicts/{verdict_id}/submit"): "user",
    ("POST", "/verdicts/{verdict_id}/skip"): "user",
    ("GET", "/projects/{slug}/evaluation"): "admin",
    ("GET", "/projects/{slug}/rounds"): "admin",
    ("POST", "/projects/{slug}/comparisons"): "admin",
    # self-instruct (issue 12): annotators flip the classification flag of what they annotate; reviewers mark
    # evaluation-only data; the rounds report is an admin's
    ("PUT", "/api/v1/instructions/{instruction_id}/classification"): "user",
    ("POST", "/instructions/{instruction_id}/classification"): "user",
    ("POST", "/api/v1/projects/{slug}/instructions/evaluation-only"): "reviewer",
    ("GET", "/projects/{slug}/self-instruct/report"): "admin",
    # Flan (issue 13): reviewers read datasets and templates; importing, writing, previewing, rendering are admins'
    ("POST", "/api/v1/projects/{slug}/datasets"): "admin",
    ("GET", "/api/v1/projects/{slug}/datasets"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/datasets/{name}"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/datasets/{name}/records"): "reviewer",
    ("DELETE", "/api/v1/projects/{slug}/datasets/{name}"): "admin",
    ("POST", "/api/v1/projects/{slug}/templates"): "admin",
    ("GET", "/api/v1/projects/{slug}/templates"): "reviewer",
    ("GET", "/api/v1/projects/{slug}/templates/export"): "reviewer",
    ("POST", "/api/v1/projects/{slug}/templates/preview"): "admin",
    ("POST", "/api/v1/projects/{slug}/templates/presets"): "admin",
    ("GET", "/api/v1/templates/{template_id}"): "reviewer",
    ("GET", "/api/v1/templates/{template_id}/versions/{version}"): "reviewer",
    ("PUT", "/api/v1/templates/{template_id}"): "admin",
    ("GET", "/flan"): "admin",
    ("GET", "/projects/{slug}/datasets"): "admin",
    ("POST", "/projects/{slug}/datasets"): "admin",
    ("GET", "/projects/{slug}/datasets/{name}"): "admin",
    ("POST", "/projects/{slug}/datasets/{name}/render"): "admin",
    ("GET", "/projects/{slug}/templates"): "admin",
    ("POST", "/projects/{slug}/templates/import"): "admin",
    ("POST", "/projects/{slug}/templates/preset"): "admin",
    ("GET", "/projects/{slug}/templates/new"): "admin",
    ("GET", "/projects/{slug}/templates/{template_id}/edit"): "admin",
    ("POST", "/projects/{slug}/templates/draft"): "admin",
    ("POST", "/projects/{slug}/templates/save"): "admin",
    # served models (issue 11): OpenAI-compatible, any user's API token; 401 in OpenAI's error shape otherwise
    ("GET", "/v1/models"): "token",
    ("POST", "/v1/chat/completions"): "token",
    ("POST", "/v1/completions"): "token",
}

# Default rules by path prefix, first match wins, for routes the table does not list.
PREFIX_RULES: list[tuple[str | None, str, Level]] = [
    (None, "/static/", "public"),
    (None, "/admin", "admin"),
    (None, "/review", "reviewer"),
    (None, "/runs", "admin"),
    (None, "/exports", "admin"),
    ("POST", "/api/v1/tuning-runs", "admin"),
    ("POST", "/api/v1/generations", "admin"),
    ("POST", "/api/v1/projects/{slug}/jobs", "admin"),
    ("POST", "/api/v1/jobs", "admin"),
    (None, "/jobs", "admin"),
    (None, "/api/v1/backends", "admin"),
    (None, "/documents", "admin"),
    (None, "/api/v1/exports", "admin"),
    (None, "/api/v1/users", "admin"),
    (None, "/api/v1/tokens", "admin"),
    (None, "/api/v1/projects/{slug}/exports", "admin"),
    (None, "/api/v1/instructions/{instruction_id}/approve", "reviewer"),
]

MISSING_ID = 2_147_000_001  # fits a 32-bit integer column and exists nowhere
RUN_MARKER = "RUN-ONLY-FOR-ADMINS-4b1d"  # in the run's name, its artifact and its generation job


@pytest.fixture
def world(world: World, db) -> Iterator[World]:
    """The shared world plus a finished tuning run with an artifact on disk and a generation job, so run
    routes answer for real (200 to whoever may call them) instead of 404 to everyone."""
    import shutil

    from app.models import Job, JobStatus, RunState, TuningRun
    from app.tuning.spec import run_dir
    from tests.tuning.conftest import make_snapshot

    export = make_snapshot(db, world.project)
    run = TuningRun(project_id=world.project.id, export_id=export.id, method="sft-lora", base_model="/m",
                    name=f"{RUN_MARKER} run", state=RunState.succeeded, loss=0.5, step=6, total_steps=6)
    db.add(run)
    db.flush()
    # Rows made here bypass the service, and a run of the other database may have used this id and folder.
    shutil.rmtree(run_dir(run.id), ignore_errors=True)
    adapter = run_dir(run.id) / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(f'{{"r": 8, "note": "{RUN_MARKER}"}}')
    run.artifacts = [{"name": "adapter", "path": str(adapter), "size_bytes": 40}]
    job = Job(project_id=world.project.id, kind="answer", params={"backend": f"run-{run.id}"},
              backends=[f"run-{run.id}"], state={"model": RUN_MARKER}, status=JobStatus.succeeded)
    db.add(job)
    db.commit()
    world.path_values.update(run_id=run.id, job_id=job.id, name="adapter")
    yield world
    shutil.rmtree(run_dir(run.id), ignore_errors=True)


def expected_level(method: str, path: str) -> Level | None:
    if (method, path) in ROUTES:
        return ROUTES[(method, path)]
    for rule_method, prefix, level in PREFIX_RULES:
        if (rule_method is None or rule_method == method) and (path == prefix or path.startswith(prefix)):
            return level
    return None


def app_routes(app) -> list[tuple[str, str, RouteContext | None]]:
    """(method, path, route) for every endpoint the app serves, included routers flattened; HEAD rides on GET."""
    out = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            out.append(("GET", route.path.rstrip("/") + "/", None))
            continue
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                out.append((method, route.path, route))
    # Destructive calls last, so the rows they remove are there for everything else.
    return sorted(out, key=lambda r: (r[0] == "DELETE", r[1] == "/logout", r[1], r[0]))


def fill_path(path: str, route, world: World) -> str:
    """Real ids where the world holds a row for the parameter's name; an id that exists nowhere otherwise."""
    if path.endswith("/static/"):
        return "/static/css/app.css"
    dependant = getattr(route, "dependant", None)
    types = {p.name: getattr(p.field_info, "annotation", None) for p in dependant.path_params} if dependant else {}

    def _value(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        if name in world.path_values:
            return str(world.path_values[name])
        return str(MISSING_ID) if types.get(name) is int else "no-such-thing"

    return re.sub(r"\{([^}]+)\}", _value, path)


def check(caller: str, level: Level, method: str, path: str, resp) -> str | None:
    """None when the answer fits the matrix, else what is wrong."""
    role = CALLER_ROLE[caller]
    is_api = path.startswith("/api/")
    code = resp.status_code
    if (method, path) == ("GET", "/api/v1/health"):
        # Its own answer when a part is down (no worker runs here): 503 naming the part, never another 5xx.
        return None if code in (200, 503) and "database" in resp.json() else f"health answered {code}"
    if code >= 500:
        return f"server error {code}: {resp.text[:200]}"
    if level == "public":
        return None  # anyone may call it; what it answers (e.g. 401 for a wrong password) is its own business
    if level == "token":
        if caller.endswith("_token"):
            return f"refused a token with {code}: {resp.text[:200]}" if code in (401, 403) else None
        error = resp.json().get("error", {}) if code == 401 else {}
        if set(error) != {"message", "type", "param", "code"}:
            return f"{caller} got {code} {resp.text[:200]}, expected 401 in OpenAI's error shape"
        return None
    if RANK[role] >= NEEDS[level]:
        if code in (401, 403):
            return f"refused an allowed caller with {code}: {resp.text[:200]}"
        if code == 303 and resp.headers.get("location", "").startswith("/login"):
            return "sent an allowed caller to the login page"
        return None
    if role is None:
        if is_api:
            if code != 401:
                return f"anonymous got {code}, expected 401"
            assert_error_shape(resp, 401)
            return None
        if code != 303 or not resp.headers.get("location", "").startswith("/login"):
            return f"anonymous got {code} {resp.headers.get('location', '')}, expected 303 to /login"
        return None
    if code != 403:
        return f"{role} got {code}, expected 403 (this needs {level})"
    if is_api:
        assert_error_shape(resp, 403)
    return None


def test_every_route_answers_every_caller_as_the_matrix_says(world: World, app):
    routes = app_routes(app)
    unclassified = [f"    ({m!r}, {p!r}): ...," for m, p, _ in routes if expected_level(m, p) is None]
    assert not unclassified, (
        "These routes are not in the access matrix. Add each to ROUTES in tests/reliability/test_access_matrix.py"
        " with the least role that may call it (public, user, reviewer or admin):\n" + "\n".join(unclassified))
    problems = []
    calls = 0
    for method, path, route in routes:
        level = expected_level(method, path)
        url = fill_path(path, route, world)
        # Callers who must be refused go first: an allowed call may change or delete the rows used here.
        order = sorted(CALLERS, key=lambda c: (RANK[CALLER_ROLE[c]] >= NEEDS[level], c == "admin_session"))
        for caller in order:
            kwargs = {"headers": {"accept": "application/json" if url.startswith("/api/") else "text/html"}}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            resp = world.callers[caller].request(method, url, **kwargs)
            calls += 1
            problem = check(caller, level, method, path, resp)
            if problem:
                problems.append(f"{method} {url} as {caller} ({level} route): {problem}")
    assert not problems, f"{len(problems)} of {calls} calls broke the access matrix:\n" + "\n".join(problems)


def test_matrix_covers_every_caller_and_level():
    # The matrix must be able to fail: each level refuses someone, and each caller is refused somewhere.
    for level in ("user", "reviewer", "admin"):
        assert any(RANK[CALLER_ROLE[c]] < NEEDS[level] for c in CALLERS)
    assert {CALLER_ROLE[c] for c in CALLERS} == {None, "annotator", "reviewer", "admin"}


@pytest.mark.parametrize("path", ["/api/v1/me", "/"])
def test_a_revoked_token_is_refused_at_once(world: World, db, path):
    from app.users.service import create_token, revoke_token

    user = world.users["annotator"]
    issued = create_token(db, user=user, name="short-lived")
    db.flush()
    headers = {"Authorization": f"Bearer {issued.secret}", "accept": "application/json"}
    caller = world.callers["anonymous"]
    assert caller.request("GET", path, headers=headers).status_code == 200
    revoke_token(db, token_id=issued.token.id, by=user)
    db.flush()
    resp = caller.request("GET", path, headers=headers)
    assert resp.status_code == 401
    assert "revoked" in assert_error_shape(resp, 401)["message"]


def test_annotators_never_see_or_touch_another_annotators_unsubmitted_work(world: World, app, db, token_for):
    """Annotator A's draft holds a marker; annotator B calls every route of the app with A's ids."""
    from fastapi.testclient import TestClient

    from app.models import Annotation
    from tests.reliability.conftest import Caller, quick_user

    marker = "DRAFT-OF-A-7f3c9e"
    draft = db.get(Annotation, world.path_values["annotation_id"])
    draft.correction = f"{marker} correction"
    draft.comment = f"{marker} comment"
    db.flush()
    before = (draft.status, draft.correction, draft.comment, draft.ranking, draft.flags)

    other = quick_user(db, "annotator")
    session_b = Caller("b_session", TestClient(app, raise_server_exceptions=False), login_email=other.email)
    token_b = Caller("b_token", TestClient(app, raise_server_exceptions=False), headers=token_for(other))

    leaks, changed = [], []
    for method, path, route in app_routes(app):
        if method == "DELETE" or path == "/logout":
            continue
        url = fill_path(path, route, world)
        for caller in (session_b, token_b):
            kwargs = {"json": {}} if method != "GET" else {}
            resp = caller.request(method, url, **kwargs)
            if marker in resp.text:
                leaks.append(f"{method} {url} as {caller.name} ({resp.status_code})")
            db.expire(draft)
            if (draft.status, draft.correction, draft.comment, draft.ranking, draft.flags) != before:
                changed.append(f"{method} {url} as {caller.name} ({resp.status_code})")
                draft.correction, draft.comment = f"{marker} correction", f"{marker} comment"
                db.flush()
    # The check can fail: the same draft is there for a reviewer to see.
    seen = world.callers["admin_token"].request("GET", f"/api/v1/instructions/{world.instruction.id}")
    assert marker in seen.text, seen.text[:500]
    assert not leaks, "another annotator's unsubmitted work was shown to annotator B:\n" + "\n".join(leaks)
    assert not changed, "annotator B changed annotator A's work:\n" + "\n".join(changed)


def test_annotators_never_reach_a_tuning_run(world: World, app):
    """Issue 6: no route shows an annotator a tuning run, its events, metrics, artifacts or generation jobs."""
    run_id = world.path_values["run_id"]
    leaks = []
    for method, path, route in app_routes(app):
        if method == "DELETE" or path == "/logout":
            continue
        url = fill_path(path, route, world)
        for name in ("annotator", "annotator_token"):
            resp = world.callers[name].request(method, url, **({"json": {}} if method != "GET" else {}))
            if RUN_MARKER in resp.text:
                leaks.append(f"{method} {url} as {name} ({resp.status_code})")
    # The check can fail: an admin reads the marker in the run, its artifact and its generation job.
    admin = world.callers["admin_token"]
    assert RUN_MARKER in admin.request("GET", f"/api/v1/tuning-runs/{run_id}").text
    artifact = admin.request("GET", f"/api/v1/tuning-runs/{run_id}/artifacts/adapter",
                             params={"file": "adapter_config.json"})
    assert artifact.status_code == 200 and RUN_MARKER in artifact.text
    assert RUN_MARKER in admin.request("GET", f"/api/v1/generations/{world.path_values['job_id']}").text
    assert not leaks, "an annotator reached a tuning run:\n" + "\n".join(leaks)


def test_reviewers_read_a_runs_status_but_not_its_metrics_events_or_artifacts(world: World):
    run_id = world.path_values["run_id"]
    reviewer, admin = world.callers["reviewer"], world.callers["admin_token"]
    seen = reviewer.request("GET", f"/api/v1/tuning-runs/{run_id}")
    assert seen.status_code == 200, seen.text
    run = seen.json()
    assert run["state"] == "succeeded" and run["progress"]["step"] == 6
    assert run["metrics"] == {} and run["artifacts"] == [] and run["checkpoint"] is None
    listed = reviewer.request("GET", "/api/v1/tuning-runs").json()
    assert [r["metrics"] for r in listed if r["id"] == run_id] == [{}]
    full = admin.request("GET", f"/api/v1/tuning-runs/{run_id}").json()
    assert full["metrics"]["loss"] == 0.5 and [a["name"] for a in full["artifacts"]] == ["adapter"]
    for path in ("events", "artifacts", "artifacts/adapter"):
        assert_error_shape(reviewer.request("GET", f"/api/v1/tuning-runs/{run_id}/{path}",
                                            headers={"accept": "application/json"}), 403)
