"""Export benchmark: 1M approved instructions (3 ranked candidates each) in PostgreSQL and SQLite.

Rows are bulk-generated (PostgreSQL COPY; SQLite executemany) from T0 prompts and completions, each made
unique. The export runs as the worker runs it (`worker.tasks.exports.run`) in a subprocess, which reports
its wall time and peak RSS. On PostgreSQL, `COPY (SELECT json_build_object(...)) TO STDOUT` of the same
rows is the physical reference. `--quick` uses 50,000 instructions.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
T0 = ROOT.parent / "shared" / "data" / "t0-train-50k" / "t0_train_50k.jsonl.gz"
PG_ADMIN_URL = os.environ.get("TUNELOOP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PROMPT_CHARS = 300  # T0 prompts average ~1,000 characters; cut so 1M rows fit a laptop's disk comfortably


def _texts() -> list[tuple[str, str]]:
    out = []
    with gzip.open(T0, "rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            out.append((row["prompt"][:PROMPT_CHARS], row["completion"].removesuffix("<|endoftext|>").strip()))
    return out


def generate_rows(project_id: int, n: int, first_id: int, texts: list[tuple[str, str]] | None = None):
    """(instructions, candidates, approvals) row tuples for n approved instructions, ids from first_id."""
    texts = texts or [(f"Question {i}: what is {i} plus {i}?", str(2 * i)) for i in range(1000)]
    now = datetime.now(UTC)
    source = itertools.cycle(texts)
    for k in range(n):
        iid = first_id + k
        prompt, answer = next(source)
        split = "eval" if k % 20 == 19 else "train"
        inst = (iid, project_id, f"{prompt} [#{iid}]", "", "", "[]", split, "bench", "{}", "approved",
                f"{iid:064x}", now, now)
        c = [3 * iid, 3 * iid + 1, 3 * iid + 2]
        cands = [(c[0], iid, answer, "m0", "imported", now), (c[1], iid, f"{answer} (maybe)", "m1", "imported", now),
                 (c[2], iid, f"Not sure. {iid}", "m2", "imported", now)]
        ranking = [[c[0]], [c[1], c[2]]] if k % 10 == 3 else [[c[0]], [c[1]], [c[2]]]
        corrected = k % 10 == 7
        appr = (iid, iid, project_id, f"{answer}, surely" if corrected else answer, None if corrected else c[0],
                json.dumps(ranking), False, json.dumps([c[2]]), "[]", "adjudicated", now)
        yield inst, cands, appr


INST_COLS = ("id, project_id, instruction, input, system, history, split, source, metadata, status, content_hash, "
             "created_at, updated_at")
CAND_COLS = "id, instruction_id, text, model, origin, created_at"
APPR_COLS = ("id, instruction_id, project_id, final_response, final_candidate_id, ranking, all_bad, "
             "rejected_candidate_ids, annotation_ids, method, approved_at")


def bulk_load(url: str, project_id: int, n: int, texts=None) -> None:
    """Insert n approved instructions fast: COPY on PostgreSQL, one executemany transaction on SQLite."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        first = (conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM instructions")).scalar_one() or 0) + 1
        cand_max = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM candidates")).scalar_one() or 0
        first = max(first, cand_max // 3 + 1)
    raw = eng.raw_connection()
    try:
        rows = generate_rows(project_id, n, first, texts)
        if url.startswith("postgresql"):
            _pg_copy(raw, rows)
        else:
            _sqlite_insert(raw, rows)
        raw.commit()
    finally:
        raw.close()
    if url.startswith("postgresql"):
        with eng.begin() as conn:
            for table in ("instructions", "candidates", "approvals"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
            conn.execute(sa.text("ANALYZE instructions; ANALYZE candidates; ANALYZE approvals"))
    eng.dispose()


def _pg_copy(raw, rows) -> None:
    insts, cands, apprs = [], [], []
    cur = raw.cursor()
    for chunk in iter(lambda: list(itertools.islice(rows, 50_000)), []):
        insts = [r[0] for r in chunk]
        cands = [c for r in chunk for c in r[1]]
        apprs = [r[2] for r in chunk]
        for table, cols, data in (("instructions", INST_COLS, insts), ("candidates", CAND_COLS, cands),
                                  ("approvals", APPR_COLS, apprs)):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)


def _sqlite_insert(raw, rows) -> None:
    cur = raw.cursor()
    cur.execute("BEGIN")
    marks = lambda cols: ", ".join("?" * len(cols.split(",")))  # noqa: E731
    for chunk in iter(lambda: list(itertools.islice(rows, 50_000)), []):
        cur.executemany(f"INSERT INTO instructions ({INST_COLS}) VALUES ({marks(INST_COLS)})",
                        [_iso(r[0]) for r in chunk])
        cur.executemany(f"INSERT INTO candidates ({CAND_COLS}) VALUES ({marks(CAND_COLS)})",
                        [_iso(c) for r in chunk for c in r[1]])
        cur.executemany(f"INSERT INTO approvals ({APPR_COLS}) VALUES ({marks(APPR_COLS)})",
                        [_iso(r[2]) for r in chunk])


def _iso(row: tuple) -> tuple:
    # SQLAlchemy's SQLite DateTime stores "YYYY-MM-DD HH:MM:SS.ffffff".
    return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)


CHILD = r"""
import json, resource, sys, time
from worker.tasks.exports import run
from app.core.db import get_sessionmaker
from app.models import Export
t = time.perf_counter()
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
run(int(sys.argv[1]))
elapsed = time.perf_counter() - t
with get_sessionmaker()() as s:
    e = s.get(Export, int(sys.argv[1]))
    out = {"status": e.status.value, "error": e.error, "row_counts": e.row_counts, "rows_total": e.rows_total,
           "bytes": sum(f["bytes"] for f in e.files)}
out["seconds"] = elapsed
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so it would report this
# benchmark's own (larger) parent process instead of the export's.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
out["peak_rss_mb"] = int(hwm.split()[1]) / 1024
out["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu0
print("RESULT " + json.dumps(out))
"""


def run_export(url: str, data_dir: Path, project_id: int, fmt: str, version: int) -> dict:
    """One export through the worker's task, in a fresh process; its wall time and peak RSS."""
    from app.exports.schemas import ExportCreate

    eng = sa.create_engine(url)
    options = ExportCreate(format=fmt).options()
    with eng.begin() as conn:
        export_id = conn.execute(sa.text(
            "INSERT INTO exports (project_id, version, format, options, status, rows_done, row_counts, files, "
            "preview, attempts, created_at) VALUES (:p, :v, :f, :o, 'queued', 0, '{}', '[]', '[]', 0, :now) "
            "RETURNING id"), {"p": project_id, "v": version, "f": fmt, "o": json.dumps(options),
                               "now": datetime.now(UTC)}).scalar_one()
    eng.dispose()
    env = {**os.environ, "TUNELOOP_DATABASE_URL": url, "TUNELOOP_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(export_id)], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line[7:])
    rows = sum(out["row_counts"].values())
    out.update(rows=rows, rows_per_s=round(rows / out["seconds"]),
               instructions_per_s=round(out["rows_total"] / out["seconds"]),
               # Rows per second of the exporting process's own CPU: what an unshared core would reach.
               rows_per_cpu_s=round(rows / max(out["cpu_seconds"], 1e-9)))
    if out["status"] != "succeeded":
        raise RuntimeError(f"export failed: {out['error']}")
    return out


COPY_SQL = {
    "sft-messages": """COPY (SELECT json_build_object('messages', json_build_array(
        json_build_object('role', 'user', 'content', i.instruction),
        json_build_object('role', 'assistant', 'content', a.final_response)))
      FROM approvals a JOIN instructions i ON i.id = a.instruction_id
      WHERE a.project_id = {p} ORDER BY a.instruction_id) TO STDOUT""",
    # Every ordered pair of distinct candidates: the same number of rows as the ranked pairs, near enough.
    "preference": """COPY (SELECT json_build_object('prompt', i.instruction, 'chosen', c1.text, 'rejected', c2.text)
      FROM approvals a JOIN instructions i ON i.id = a.instruction_id
      JOIN candidates c1 ON c1.instruction_id = a.instruction_id
      JOIN candidates c2 ON c2.instruction_id = a.instruction_id AND c2.id > c1.id
      WHERE a.project_id = {p} ORDER BY a.instruction_id, c1.id, c2.id) TO STDOUT""",
}


def copy_reference(url: str, project_id: int, fmt: str) -> dict:
    eng = sa.create_engine(url)
    raw = eng.raw_connection()
    rows = nbytes = 0
    start = time.perf_counter()
    with raw.cursor().copy(COPY_SQL[fmt].format(p=project_id)) as copy:
        for block in copy:
            nbytes += len(block)
            rows += bytes(block).count(b"\n")
    elapsed = time.perf_counter() - start
    raw.close()
    eng.dispose()
    return {"rows": rows, "seconds": elapsed, "rows_per_s": round(rows / elapsed), "bytes": nbytes}


def _fresh_databases(tmp: Path) -> list[tuple[str, str, callable]]:
    from app.cli import run_migrations

    sqlite_url = f"sqlite:///{tmp / 'bench.db'}"
    run_migrations(sqlite_url)
    dbs = [("sqlite", sqlite_url, lambda: None)]
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"tuneloop_bench_export_{secrets.token_hex(3)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        pg_url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        run_migrations(pg_url)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        dbs.insert(0, ("postgresql", pg_url, drop))
    except Exception as exc:  # PostgreSQL is optional for a local smoke run; the report says it was absent
        print(f"PostgreSQL unavailable, skipping it: {str(exc).splitlines()[0]}", flush=True)
    return dbs


def run(quick: bool, extra: list[str]) -> dict:
    n = 50_000 if quick else 1_000_000
    texts = _texts() if T0.exists() else None
    results: dict = {"instructions": n, "candidates_per_instruction": 3, "prompt_chars_max": PROMPT_CHARS,
                     "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-export-") as tmp_name:
        tmp = Path(tmp_name)
        for backend, url, cleanup in _fresh_databases(tmp):
            try:
                eng = sa.create_engine(url)
                with eng.begin() as conn:
                    conn.execute(sa.text("INSERT INTO projects (name, slug, guidelines, settings, created_at, "
                                         "updated_at) VALUES ('Bench', 'bench', '', '{}', :t, :t)"),
                                 {"t": datetime.now(UTC)})
                    project_id = conn.execute(sa.text("SELECT id FROM projects WHERE slug = 'bench'")).scalar_one()
                eng.dispose()
                start = time.perf_counter()
                bulk_load(url, project_id, n, texts)
                part = {"load_seconds": round(time.perf_counter() - start, 1)}
                print(f"{backend}: loaded {n} in {part['load_seconds']} s", flush=True)
                for version, fmt in enumerate(("sft-messages", "preference"), start=1):
                    part[fmt] = run_export(url, tmp / f"data-{backend}", project_id, fmt, version)
                    if backend == "postgresql":
                        ref = copy_reference(url, project_id, fmt)
                        part[fmt]["copy_reference"] = ref
                        part[fmt]["vs_copy"] = round(part[fmt]["rows_per_s"] / ref["rows_per_s"], 2)
                    print(f"{backend} {fmt}: {json.dumps(part[fmt])}", flush=True)
                results[backend] = part
            finally:
                cleanup()
    return results
