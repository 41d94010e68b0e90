"""Annotation queue under load: PostgreSQL with 1,000,000 instructions of 5 candidates each (COPY-loaded),
a real uvicorn server (2 worker processes), and 20 simulated annotators looping next-task -> submit over
HTTP for a fixed time. Reports p50/p95/p99 of the server time (the app's Server-Timing `app` metric: from
admission to the response, dependencies, handler and commit included), of the wait for admission (`queue`),
and of the client-side round trip, submits/s, and checks that no
instruction was handed beyond its overlap and that every acknowledged submit is in the database.

Options (after `python -m benchmarks annotation`): --instructions N, --annotators N, --seconds S,
--overlap K, --keep (reuse the loaded database between runs; it is dropped otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("TUNELOOP_BENCH_PG_URL",
                              os.environ.get("TUNELOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
CHUNK = 100_000


def _args(quick: bool, extra: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks annotation")
    parser.add_argument("--instructions", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15 if quick else 60)
    parser.add_argument("--overlap", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the loaded database")
    args, _ = parser.parse_known_args(extra)
    return args


def _database(n: int, keep: bool) -> tuple[str, bool]:
    """A migrated database for this size; reused when --keep found one already loaded."""
    from app.cli import run_migrations

    name = f"tuneloop_bench_annotation_{n}" if keep else f"tuneloop_bench_annotation_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    run_migrations(url)
    return url, bool(exists)


def _drop(url: str) -> None:
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _load(url: str, n: int, overlap: int) -> tuple[float, str]:
    """COPY n instructions and 5n candidates into a new project; returns (seconds, project slug)."""
    import psycopg

    started = time.perf_counter()
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    slug = f"bench-{secrets.token_hex(3)}"
    with psycopg.connect(dsn) as conn:
        project_id = conn.execute(
            "INSERT INTO projects (name, slug, guidelines, settings, created_at, updated_at) "
            "VALUES (%s, %s, '', %s::jsonb, now(), now()) RETURNING id",
            ("Benchmark", slug, f'{{"min_submitted": {overlap}}}')).fetchone()[0]
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM instructions").fetchone()[0]
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            rows = []
            for i in range(start, stop):
                text = f"Write a short answer to question number {i} about topic {i % 997}."
                digest = hashlib.sha256(text.encode()).hexdigest()
                rows.append(f"{first + i}\t{project_id}\tq{i}\t{text}\t\t\t[]\ttrain\tbench\t{{}}\tpending\t"
                            f"{digest}\t0\t0\t\\N\t2026-11-23 00:00:00+00\t2026-11-23 00:00:00+00\n")
            with conn.cursor().copy(
                "COPY instructions (id, project_id, external_id, instruction, input, system, history, split, source,"
                " metadata, status, content_hash, submitted_count, reserved_count, reserved_until, created_at,"
                " updated_at) FROM STDIN") as copy:
                copy.write("".join(rows))
            cands = []
            for i in range(start, stop):
                for m in range(5):
                    cands.append(f"{first + i}\tCandidate {m} answers question {i}: a plausible response.\t"
                                 f"model-{m}\timported\t2026-11-23 00:00:00+00\n")
            with conn.cursor().copy(
                "COPY candidates (instruction_id, text, model, origin, created_at) FROM STDIN") as copy:
                copy.write("".join(cands))
        conn.execute("SELECT setval(pg_get_serial_sequence('instructions', 'id'), (SELECT max(id) FROM instructions))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE instructions")
        conn.execute("VACUUM ANALYZE candidates")
    return time.perf_counter() - started, slug


def _reuse(url: str, overlap: int) -> str | None:
    """With --keep: the loaded project, its annotations cleared and its queue counters reset."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT id, slug FROM projects WHERE name = 'Benchmark' ORDER BY id")).first()
        if row is None:
            return None
        pid, slug = row
        conn.execute(sa.text("DELETE FROM annotations a USING instructions i WHERE i.id = a.instruction_id "
                             "AND i.project_id = :p"), {"p": pid})
        conn.execute(sa.text("UPDATE instructions SET status = 'pending', submitted_count = 0, reserved_count = 0, "
                             "reserved_until = NULL WHERE project_id = :p AND (status <> 'pending' OR "
                             "submitted_count > 0 OR reserved_count > 0)"), {"p": pid})
        conn.execute(sa.text("UPDATE projects SET settings = CAST(:s AS jsonb) WHERE id = :p"),
                     {"s": f'{{"min_submitted": {overlap}}}', "p": pid})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE instructions"))
    engine.dispose()
    return slug


def _tokens(url: str, k: int) -> list[str]:
    from sqlalchemy.orm import Session

    from app.core.db import make_engine
    from app.users.service import create_token, create_user

    engine = make_engine(url)
    secrets_out = []
    with Session(engine) as session:
        for i in range(k):
            user = create_user(session, email=f"bench-{secrets.token_hex(4)}-{i}@example.com",
                               password=secrets.token_urlsafe(16), role="annotator", name=f"Bench {i}")
            session.flush()
            secrets_out.append(create_token(session, user=user, name="bench").secret)
        session.commit()
    engine.dispose()
    return secrets_out


def _serve(url: str, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TUNELOOP_DATABASE_URL": url, "TUNELOOP_SECRET_KEY": "bench",
           "TUNELOOP_DATA_DIR": str(log.parent / "var")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")


def _timing(resp: httpx.Response) -> dict[str, float]:
    """`Server-Timing: queue;dur=.., app;dur=..` as {"queue": ms, "app": ms}."""
    out = {}
    for metric in resp.headers["server-timing"].split(","):
        name, _, dur = metric.strip().partition(";dur=")
        out[name] = float(dur)
    return out


def _annotator(base: str, slug: str, token: str, until: float, out: dict) -> None:
    """One annotator: next -> submit (a full ranking and a rating) until time is up."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            resp = client.post(f"/api/v1/projects/{slug}/tasks/next")
            rt = (time.perf_counter() - t0) * 1000
            if resp.status_code == 204:
                break
            if resp.status_code != 200:
                out["errors"].append(("next", resp.status_code, resp.text[:200]))
                continue
            timing = _timing(resp)
            out["next_server"].append(timing["app"])
            out["next_queue"].append(timing["queue"])
            out["next_client"].append(rt)
            task = resp.json()
            ids = [c["id"] for c in task["instruction"]["candidates"]]
            body = {"ranking": list(reversed(ids)), "ratings": {str(ids[0]): 4}}
            t0 = time.perf_counter()
            sub = client.post(f"/api/v1/annotations/{task['annotation']['id']}/submit", json=body)
            rt = (time.perf_counter() - t0) * 1000
            if sub.status_code != 200:
                out["errors"].append(("submit", sub.status_code, sub.text[:200]))
                continue
            timing = _timing(sub)
            out["submit_server"].append(timing["app"])
            out["submit_queue"].append(timing["queue"])
            out["submit_client"].append(rt)
            out["acked"].append(task["annotation"]["id"])


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    qs = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(qs[49], 2), "p95": round(qs[94], 2), "p99": round(qs[98], 2), "n": len(values)}


def _check(url: str, slug: str, acked: list[int], overlap: int) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        beyond = conn.scalar(sa.text(
            "SELECT count(*) FROM (SELECT a.instruction_id FROM annotations a JOIN instructions i ON i.id = "
            "a.instruction_id JOIN projects p ON p.id = i.project_id WHERE p.slug = :s AND a.status <> 'skipped' "
            "GROUP BY a.instruction_id HAVING count(*) > :k) x"), {"s": slug, "k": overlap})
        found = 0
        for start in range(0, len(acked), 10_000):
            found += conn.scalar(sa.text("SELECT count(*) FROM annotations WHERE status = 'submitted' AND "
                                         "id = ANY(:ids)"), {"ids": acked[start:start + 10_000]})
        counters = conn.scalar(sa.text(
            "SELECT count(*) FROM instructions i JOIN projects p ON p.id = i.project_id WHERE p.slug = :s AND "
            "i.submitted_count <> (SELECT count(*) FROM annotations a WHERE a.instruction_id = i.id AND "
            "a.status = 'submitted') AND i.submitted_count > 0"), {"s": slug})
    engine.dispose()
    return {"instructions_beyond_overlap": int(beyond), "acked_submits": len(acked),
            "acked_submits_in_db": int(found), "lost_submits": len(acked) - int(found),
            "counter_mismatches": int(counters)}


def run(quick: bool, extra: list[str]) -> dict:
    args = _args(quick, extra)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TUNELOOP_DATA_DIR", str(ROOT / "var" / "bench"))
    url, reused = _database(args.instructions, args.keep)
    result: dict = {"instructions": args.instructions, "candidates_per_instruction": 5, "annotators": args.annotators,
                    "seconds": args.seconds, "overlap": args.overlap, "server_workers": args.workers}
    proc = None
    try:
        slug = _reuse(url, args.overlap) if reused else None
        load_s, slug = (0.0, slug) if slug else _load(url, args.instructions, args.overlap)
        result["load_seconds"] = round(load_s, 1)
        print(f"loaded {args.instructions:,} instructions x 5 candidates in {load_s:.0f} s"
              f"{' (database reused)' if reused else ''}", flush=True)
        tokens = _tokens(url, args.annotators)
        log = ROOT / "var" / "bench" / "annotation-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        proc, base = _serve(url, args.workers, log)
        out: dict = {"next_server": [], "next_client": [], "submit_server": [], "submit_client": [], "acked": [],
                     "next_queue": [], "submit_queue": [], "errors": []}
        until = time.monotonic() + args.seconds
        started = time.perf_counter()
        threads = [threading.Thread(target=_annotator, args=(base, slug, t, until, out)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        result.update({
            "next_task_server_ms": _pct(out["next_server"]), "submit_server_ms": _pct(out["submit_server"]),
            "next_task_queue_ms": _pct(out["next_queue"]), "submit_queue_ms": _pct(out["submit_queue"]),
            "next_task_client_ms": _pct(out["next_client"]), "submit_client_ms": _pct(out["submit_client"]),
            "submits_per_s": round(len(out["acked"]) / elapsed, 1), "errors": len(out["errors"]),
            "error_samples": out["errors"][:3],
        })
        result["checks"] = _check(url, slug, out["acked"], args.overlap)
        result["target_met"] = bool(out["acked"]) and all(
            result[k].get("p95", 1e9) <= 25 for k in ("next_task_server_ms", "submit_server_ms"))
        print(result, flush=True)
        return result
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        if not args.keep:
            _drop(url)
