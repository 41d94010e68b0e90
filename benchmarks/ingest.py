"""Ingest benchmark: every T0 row over REST in 1,000-item batches into PostgreSQL and SQLite, next to COPY.

A real uvicorn server (app.main:create_app, no worker) runs against a fresh database; a client pushes
pre-serialised batches over a few concurrent HTTP connections, as a loader script would. In the same
run the same rows are loaded into PostgreSQL with psycopg COPY: the physical reference.
"""

from __future__ import annotations

import gzip
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
T0 = ROOT.parent / "shared" / "data" / "t0-train-50k" / "t0_train_50k.jsonl.gz"
PG_ADMIN_URL = os.environ.get("TUNELOOP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BATCH = 1000
CONNECTIONS = 4
EOT = "<|endoftext|>"


def load_items(limit: int | None) -> list[dict]:
    """T0 rows as ingest items: prompt -> instruction, completion -> candidate, template -> source."""
    items = []
    with gzip.open(T0, "rb") as fh:
        for n, line in enumerate(fh, start=1):
            row = orjson.loads(line)
            completion = row["completion"].removesuffix(EOT).strip()
            item = {"external_id": f"t0-{n}", "instruction": row["prompt"], "source": row["template"]}
            if completion:
                item["candidates"] = [{"text": completion, "model": "t0-reference"}]
            items.append(item)
            if limit and n >= limit:
                break
    return items


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_pg() -> tuple[str, callable]:
    import sqlalchemy as sa

    name = f"tuneloop_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _prepare(url: str) -> str:
    """Migrate, create an admin with a token; answer the token."""
    from sqlalchemy.orm import Session

    from app.cli import run_migrations
    from app.core.db import make_engine
    from app.users.service import create_token, create_user

    run_migrations(url)
    engine = make_engine(url)
    with Session(engine) as session:
        user = create_user(session, email=f"bench-{secrets.token_hex(3)}@example.com", password="benchmark-pass",
                           role="admin", name="Bench")
        issued = create_token(session, user=user, name="bench")
        session.commit()
        secret = issued.secret
    engine.dispose()
    return secret


def _serve(url: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "TUNELOOP_DATABASE_URL": url, "TUNELOOP_DATA_DIR": str(data_dir),
           "TUNELOOP_SECRET_KEY": "bench-secret"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not start (exit code {proc.poll()}); see its output above")


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_cpu(url: str) -> float:
    """CPU seconds of the PostgreSQL backends serving `url`'s database (the server's pooled connections)."""
    import psycopg
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                           "AND pid <> pg_backend_pid()", (parsed.database,))]
    return sum(_cpu_or_zero(pid) for pid in pids)


def _profile(pid: int, name: str, extra: list[str]) -> subprocess.Popen | None:
    """With --profile=PY_SPY_PATH, record the server with py-spy into bench-<db>.svg (flame graph)."""
    spy = next((a.split("=", 1)[1] for a in extra if a.startswith("--profile=")), None)
    if not spy:
        return None
    return subprocess.Popen([spy, "record", "-p", str(pid), "-o", f"/tmp/bench-ingest-{name}.txt", "-f", "raw",
                             "-r", "200", "--nonblocking"])


def push(base: str, token: str, bodies: list[bytes], n_items: int) -> dict:
    """POST every batch over CONNECTIONS concurrent connections; rows/s and latency percentiles."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=300) as c:
        resp = c.post("/api/v1/projects", json={"name": "T0 bench"})
        resp.raise_for_status()
        slug = resp.json()["slug"]
    path = f"/api/v1/projects/{slug}/instructions"
    latencies: list[float] = []
    created = 0

    def send(chunk: list[bytes]) -> int:
        made = 0
        with httpx.Client(base_url=base, headers={**headers, "Content-Type": "application/json"},
                          timeout=300) as c:
            for body in chunk:
                t = time.perf_counter()
                r = c.post(path, content=body)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"ingest failed with {r.status_code}: {r.text[:500]}")
                made += r.json()["created"]
        return made

    chunks = [bodies[i::CONNECTIONS] for i in range(CONNECTIONS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        created = sum(pool.map(send, chunks))
    elapsed = time.perf_counter() - started
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        total = c.get(f"/api/v1/projects/{slug}").json()["counts"]["total"]
        # A second pass must write nothing: every item comes back "unchanged".
        t = time.perf_counter()
        again = c.post(path, content=bodies[0], headers={"Content-Type": "application/json"}).json()
        resend_s = time.perf_counter() - t
    if created != n_items or total != n_items:
        raise RuntimeError(f"expected {n_items} rows, the API created {created} and the project holds {total}")
    lat = sorted(latencies)
    return {"rows": n_items, "seconds": round(elapsed, 2), "rows_per_s": round(n_items / elapsed),
            "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p95_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1000, 1),
            "requests": len(lat), "resend_unchanged": again.get("unchanged"), "resend_ms": round(resend_s * 1000, 1)}


def copy_reference(url: str, items: list[dict]) -> dict:
    """The same rows with psycopg COPY straight into the tables: what the disk and server can take."""
    import psycopg
    import sqlalchemy as sa

    from app.instructions.ingest import canonical, content_hash

    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rows = [canonical(it) for it in items]
    hashes = [content_hash(r) for r in rows]  # computed outside the timing: COPY gets ready-made rows
    with psycopg.connect(dsn) as conn:
        pid = conn.execute("INSERT INTO projects (name, slug, guidelines, settings, created_at, updated_at) "
                           "VALUES ('copy', 'copy-ref', '', '{}', now(), now()) RETURNING id").fetchone()[0]
        conn.commit()
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        started, cpu_before, pg_before = time.perf_counter(), time.process_time(), _cpu_or_zero(backend)
        with conn.cursor() as cur:
            ids = [r[0] for r in cur.execute("SELECT nextval(pg_get_serial_sequence('instructions', 'id')) "
                                             "FROM generate_series(1, %s)", (len(rows),)).fetchall()]
            with cur.copy("COPY instructions (id, project_id, external_id, instruction, input, system, history, "
                          "split, source, metadata, status, content_hash, created_at, updated_at) FROM STDIN") as cp:
                now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
                for row_id, r, h in zip(ids, rows, hashes, strict=True):
                    cp.write_row((row_id, pid, r["external_id"], r["instruction"], "", "", "[]", "train",
                                  r["source"], "{}", "pending", h, now, now))
            with cur.copy("COPY candidates (instruction_id, text, model, score, origin, created_at) FROM STDIN") as cp:
                for row_id, r in zip(ids, rows, strict=True):
                    for c in r["candidates"]:
                        cp.write_row((row_id, c["text"], c["model"], None, "imported", now))
        conn.commit()
        elapsed, cpu_after, pg_after = time.perf_counter() - started, time.process_time(), _cpu_or_zero(backend)
    return {"rows": len(rows), "seconds": round(elapsed, 2), "rows_per_s": round(len(rows) / elapsed),
            "client_cpu_s": round(cpu_after - cpu_before, 2), "postgres_cpu_s": round(pg_after - pg_before, 2)}


def _cpu_or_zero(pid: int) -> float:
    """CPU seconds of a process, or 0 for one on another host or already gone."""
    try:
        return _cpu_seconds(pid)
    except OSError:
        return 0.0


def run(quick: bool, extra: list[str]) -> dict:
    items = load_items(5000 if quick else None)
    bodies = [orjson.dumps({"items": items[i:i + BATCH]}) for i in range(0, len(items), BATCH)]
    print(f"{len(items)} rows in {len(bodies)} batches of {BATCH}, {sum(map(len, bodies)) / 1e6:.1f} MB of JSON",
          flush=True)
    results: dict = {"batch": BATCH, "connections": CONNECTIONS}
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-") as tmp:
        targets = [("postgresql", *_fresh_pg()), ("sqlite", f"sqlite:///{tmp}/bench.db", lambda: None)]
        for name, url, cleanup in targets:
            try:
                token = _prepare(url)
                proc, base = _serve(url, Path(tmp) / name)
                spy = _profile(proc.pid, name, extra)
                try:
                    cpu_before = _cpu_seconds(proc.pid)
                    results[name] = push(base, token, bodies, len(items))
                    # CPU time barely depends on how busy the machine is, unlike wall time: the server's
                    # own cost per 1,000 rows, to compare runs taken under different loads.
                    cpu = _cpu_seconds(proc.pid) - cpu_before
                    results[name]["server_cpu_s"] = round(cpu, 2)
                    results[name]["server_cpu_ms_per_1000_rows"] = round(cpu / len(items) * 1e6, 1)
                    if name == "postgresql":
                        results[name]["postgres_cpu_s"] = round(_backend_cpu(url), 2)
                finally:
                    if spy:
                        spy.send_signal(2)
                        spy.wait(timeout=60)
                    proc.terminate()
                    proc.wait(timeout=30)
                print(f"{name}: {results[name]}", flush=True)
                if name == "postgresql":
                    results["postgresql_copy"] = copy_reference(url, items)
                    print(f"postgresql COPY: {results['postgresql_copy']}", flush=True)
            finally:
                cleanup()
    pg, ref = results.get("postgresql"), results.get("postgresql_copy")
    if pg and ref:
        results["rest_vs_copy"] = round(pg["rows_per_s"] / ref["rows_per_s"], 2)
    return results
