"""Flan benchmark, on PostgreSQL and SQLite:

- render: 100,000 rows from 5,000 T0 records through 10 templates (5 zero-shot in zs-opt and zs-noopt, 5
  few-shot in fs-opt and fs-noopt, k=3 pruned to 1,920 tokens of the tiny model's tokenizer), run by the job
  engine as a worker runs it, in a fresh process: rows per second and peak RSS;
- mixture: a 100,000-row Flan 2022 mixture exported from 1,000,000 stored template rows (T0 texts, shaped like
  the Flan collection) by the export task in a fresh process: wall time, rows per second, peak RSS, and the
  realised source shares against the weights; and the same recipe on the tests' 200,000-row fixture
  (a 100,000-row mixture), whose shares the tests check at 50,000 rows.

`--quick`: 10,000 rendered rows and a 20,000-row mixture from 200,000 rows; `--render-only` skips the mixtures.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks.export import _fresh_databases
from tests.support import flan_rows

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = {"Flan2021": 0.40, "T0": 0.32, "CoT": 0.20, "NIv2": 0.05, "Dialog": 0.03}

RENDER_CHILD = r"""
import json, resource, sys, time
from app.jobs.runner import run_job
from app.core.db import get_sessionmaker
from app.models import Job
t = time.perf_counter()
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
run_job(int(sys.argv[1]))
elapsed = time.perf_counter() - t
cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0
with get_sessionmaker()() as s:
    job = s.get(Job, int(sys.argv[1]))
    out = {"status": job.status.value, "error": job.error, "done": job.items_done, "rejected": job.items_rejected,
           "failed": job.items_failed, "reasons": job.reasons, "result": job.result}
out["seconds"], out["cpu_seconds"] = elapsed, cpu
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
out["peak_rss_mb"] = int(hwm.split()[1]) / 1024
print("RESULT " + json.dumps(out))
"""

MIXTURE_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from worker.tasks.exports import run
from app.core.db import get_sessionmaker
from app.models import Export
t = time.perf_counter()
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
run(int(sys.argv[1]))
elapsed = time.perf_counter() - t
cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0
with get_sessionmaker()() as s:
    e = s.get(Export, int(sys.argv[1]))
    out = {"status": e.status.value, "error": e.error, "row_counts": e.row_counts, "path": e.path}
out["seconds"] = elapsed
if out["status"] == "succeeded":
    realised = json.loads((Path(out["path"]) / "manifest.json").read_text())["content"]["mixture"]["realised"]
    out["shares"] = {k: v["share"] for k, v in realised["by_source"].items()}
    out["by_template_type"] = realised["by_template_type"]
    out["inverted_share"] = realised["inverted"]["share"]
    out["tasks"] = sum(len(t) for t in realised["by_task"].values())
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
out["peak_rss_mb"] = int(hwm.split()[1]) / 1024
print("RESULT " + json.dumps(out))
"""


def _child(code: str, url: str, data_dir: Path, arg: int) -> dict:
    env = {**os.environ, "TUNELOOP_DATABASE_URL": url, "TUNELOOP_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-c", code, str(arg)], env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])


def _project(url: str, slug: str) -> tuple[int, int]:
    """A project and an admin; (project id, admin id)."""
    from app.core.db import make_engine
    from app.users.service import create_user

    eng = make_engine(url)
    with sa.orm.Session(eng) as session:
        admin = create_user(session, email=f"bench-{secrets.token_hex(3)}@example.com", password="correct horse",
                            role="admin")
        from app.models import Project

        project = Project(name=slug, slug=slug)
        session.add(project)
        session.commit()
        ids = project.id, admin.id
    eng.dispose()
    return ids


def _tokenizer(tmp: Path) -> Path:
    target = tmp / "tiny-llama"
    subprocess.run([sys.executable, "-m", "worker.training", "init-tiny", str(target)], cwd=ROOT, check=True,
                   capture_output=True)
    return target


def _render_setup(url: str, records: int, tokenizer: Path) -> tuple[int, dict]:
    """The T0 dataset and 10 templates; returns (queued job id, its parameters)."""
    from app.core.db import make_engine
    from app.datasets.service import create_dataset, records_of
    from app.jobs.service import create_job
    from app.models import User
    from app.prompts.schemas import TemplateCreate
    from app.prompts.service import create_template

    slug = f"render-{secrets.token_hex(3)}"
    _project_id, admin_id = _project(url, slug)
    texts = flan_rows.t0_texts(limit=records, chars=2000)
    rows = [{"prompt": p, "completion": c, "template": t} for p, c, t in texts]
    eng = make_engine(url)
    with sa.orm.Session(eng) as session:
        create_dataset(session, project_slug=slug, name="t0", task="t0", source="T0", rows=records_of(rows))
        for i in range(5):
            create_template(session, project_slug=slug, user=None, data=TemplateCreate(
                task="t0", name=f"zs_{i}", type="zero-shot", answer_choices="{{ completion }} ||| not sure",
                jinja=f"Template {i}.\n{{{{ prompt }}}}\n{{{{ options }}}} ||| {{{{ completion }}}}"))
            create_template(session, project_slug=slug, user=None, data=TemplateCreate(
                task="t0", name=f"fs_{i}", type="few-shot", answer_choices="{{ completion }} ||| not sure",
                jinja=f"{{{{ prompt }}}} (form {i}) ||| {{{{ completion }}}}",
                few_shot={"input_prefix": "Input: ", "target_prefix": "Output: "}))
        params = {"dataset": "t0", "k": 3, "token_budget": 1920, "tokenizer": str(tokenizer), "seed": 1}
        job = create_job(session, user=session.get(User, admin_id), project_slug=slug, kind_name="render-templates",
                         params=params)
        session.commit()
        job_id = job.id
    eng.dispose()
    return job_id, params


def _mixture_export(url: str, project_id: int, admin_id: int, total: int) -> int:
    from app.core.db import make_engine
    from app.exports.schemas import ExportCreate
    from app.exports.service import create_export
    from app.models import User

    eng = make_engine(url)
    with sa.orm.Session(eng) as session:
        slug = session.execute(sa.text("SELECT slug FROM projects WHERE id = :p"), {"p": project_id}).scalar_one()
        export = create_export(session, project_slug=slug, user=session.get(User, admin_id), data=ExportCreate(
            format="sft-alpaca", file_format="json", seed=7, mixture={"preset": "flan2022", "total": total}))
        session.commit()
        export_id = export.id
    eng.dispose()
    return export_id


def _mixture(url: str, data_dir: Path, stored: int, total: int, texts) -> dict:
    project_id, admin_id = _project(url, f"mix-{secrets.token_hex(3)}")
    start = time.perf_counter()
    flan_rows.bulk_load(url, project_id, stored, seed=11, texts=texts)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    export_id = _mixture_export(url, project_id, admin_id, total)
    create_s = time.perf_counter() - start
    out = _child(MIXTURE_CHILD, url, data_dir, export_id)
    if out["status"] != "succeeded":
        raise RuntimeError(f"mixture export failed: {out['error']}")
    rows = sum(out["row_counts"].values())
    worst = max(abs(out["shares"].get(s, 0) - w) for s, w in WEIGHTS.items())
    return {"stored_rows": stored, "mixture_rows": rows, "load_seconds": round(load_s, 1),
            "create_check_seconds": round(create_s, 1), "export_seconds": round(out["seconds"], 1),
            "rows_per_s": round(rows / out["seconds"]), "cpu_seconds": round(out["cpu_seconds"], 1),
            "peak_rss_mb": round(out["peak_rss_mb"], 1),
            "shares": out["shares"], "worst_share_gap": round(worst, 4), "by_template_type": out["by_template_type"],
            "inverted_share": out["inverted_share"], "tasks": out["tasks"]}


def run(quick: bool, extra: list[str]) -> dict:
    render_records = 500 if quick else 5_000  # x 10 templates x 2 settings each
    stored, total = (200_000, 20_000) if quick else (1_000_000, 100_000)
    results: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "render_rows": render_records * 20,
                     "mixture": f"{total} of {stored}"}
    texts = flan_rows.t0_texts(limit=50_000)
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-flan-") as tmp_name:
        tmp = Path(tmp_name)
        tokenizer = _tokenizer(tmp)
        for backend, url, cleanup in _fresh_databases(tmp):
            try:
                part: dict = {}
                job_id, params = _render_setup(url, render_records, tokenizer)
                out = _child(RENDER_CHILD, url, tmp / f"data-{backend}", job_id)
                if out["status"] != "succeeded":
                    raise RuntimeError(f"render failed: {out['error']}")
                rows = out["done"] + out["rejected"] + out["failed"]
                part["render"] = {"rows": rows, "stored": out["done"], "reasons": out["reasons"],
                                  "seconds": round(out["seconds"], 1), "rows_per_s": round(rows / out["seconds"]),
                                  # Rows per second of the job process's own CPU: what an unshared core reaches.
                                  "rows_per_cpu_s": round(rows / max(out["cpu_seconds"], 1e-9)),
                                  "peak_rss_mb": round(out["peak_rss_mb"], 1),
                                  "by_setting": out["result"]["by_setting"], "params": params}
                print(f"{backend} render: {json.dumps(part['render'])}", flush=True)
                results[backend] = part
                if "--render-only" in extra:
                    continue
                part["mixture"] = _mixture(url, tmp / f"data-{backend}", stored, total, texts)
                print(f"{backend} mixture: {json.dumps(part['mixture'])}", flush=True)
                if not quick:
                    part["mixture_200k"] = _mixture(url, tmp / f"data-{backend}", 200_000, 100_000, texts)
                    print(f"{backend} mixture 200k: {json.dumps(part['mixture_200k'])}", flush=True)
                results[backend] = part
            finally:
                cleanup()
    return results
