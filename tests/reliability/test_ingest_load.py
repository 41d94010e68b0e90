"""Parallel ingest: many clients upserting overlapping external_ids into one project of a real server.

Each client sends batches drawn from the same pool of external_ids (the 252 user-oriented Self-Instruct
tasks, copied under several prefixes), every id in one of three versions that differ in source, metadata
and candidates, so creates race each other on the first batches and updates race on every batch. The
pool grows batch by batch, so new ids are raced for all along, not only at the start.

Holds when: no answer is a 5xx or any error other than a 409/503 asking to send again (retried, counted);
every answer's counts add up to its items; the created answers sum to the number of distinct ids (each
created exactly once); the table holds exactly one row per distinct id; every answer named the same row
for the same id; every row is exactly one of the versions sent for its id, with only candidates sent for
that id and none twice; re-sending what is stored changes nothing.

TUNELOOP_LOAD_CLIENTS (default 8), TUNELOOP_LOAD_BATCHES (batches per client, default 6) and
TUNELOOP_LOAD_BATCH_ITEMS (default 150) size it; `make reliability` runs a longer variant.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.reliability.live_server import MODELS, add_users, load_tasks, serve

CLIENTS = int(os.environ.get("TUNELOOP_LOAD_CLIENTS", "8"))
BATCHES = int(os.environ.get("TUNELOOP_LOAD_BATCHES", "6"))
BATCH_ITEMS = int(os.environ.get("TUNELOOP_LOAD_BATCH_ITEMS", "150"))
VERSIONS = 3
GROWTH = 126  # ids the pool gains per batch round
RETRY = (409, 503)  # "send the batch again" (a lost race) and "the database is busy"

pytestmark = pytest.mark.slow


def version(tasks: list[dict[str, Any]], n: int, v: int) -> dict[str, Any]:
    """Item number n of the pool in version v: same instruction, different source, metadata and candidates."""
    task = tasks[n % len(tasks)]
    picked = [task["responses"][(v + k) % len(MODELS)] for k in range(3)]
    return {"external_id": f"load-{n // len(tasks)}-{task['id']}", "instruction": task["instruction"],
            "input": task["instances"][0]["input"], "source": f"load-v{v}",
            "metadata": {"version": v, "app": task["motivation_app"]},
            "candidates": [{"text": text, "model": model} for model, text in picked]}


@dataclass
class Tally:
    requests: int = 0
    items: int = 0
    created: int = 0
    updated: int = 0
    retries: Counter = field(default_factory=Counter)
    errors: list[tuple[int, str]] = field(default_factory=list)
    sent: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # external_id -> versions
    answered_ids: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # external_id -> row ids
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_batch(client: httpx.Client, slug: str, items: list[dict], tally: Tally) -> dict | None:
    """POST one batch, sending it again on 409/503; answers the accepted result or None after an error."""
    for attempt in range(50):
        resp = client.post(f"/api/v1/projects/{slug}/instructions", json={"items": items})
        with tally.lock:
            tally.requests += 1
        if resp.status_code in RETRY:
            with tally.lock:
                tally.retries[resp.status_code] += 1
            time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.random())
            continue
        if resp.status_code != 200:
            with tally.lock:
                tally.errors.append((resp.status_code, resp.text[:300]))
            return None
        return resp.json()
    with tally.lock:
        tally.errors.append((0, "still refused after 50 attempts"))
    return None


def client_loop(base: str, token: str, slug: str, tasks: list[dict], seed: int, start: threading.Barrier,
                tally: Tally) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        start.wait()  # every client's first batch races the others' for the same new ids
        for b in range(BATCHES):
            pool = GROWTH * (b + 2)
            numbers = rng.sample(range(pool), min(BATCH_ITEMS, pool))
            items = [version(tasks, n, rng.randrange(VERSIONS)) for n in numbers]
            result = post_batch(client, slug, items, tally)
            if result is None:
                continue
            with tally.lock:
                tally.items += len(items)
                tally.created += result["created"]
                tally.updated += result["updated"]
                if result["created"] + result["updated"] + result["unchanged"] != len(items):
                    tally.errors.append((200, f"counts do not add up to {len(items)} items: {result}"))
                for item, row_id in zip(items, result["ids"], strict=True):
                    tally.sent[item["external_id"]].add(item["metadata"]["version"])
                    tally.answered_ids[item["external_id"]].add(row_id)


def stored(database_url: str, slug: str) -> tuple[dict[str, dict], dict[int, list[tuple]]]:
    """{external_id: row} and {instruction id: [(origin, model, text), ...]} of the project, as committed."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            pid = conn.scalar(sa.text("SELECT id FROM projects WHERE slug = :s"), {"s": slug})
            rows = conn.execute(sa.text(
                "SELECT id, external_id, instruction, input, source, metadata FROM instructions "
                "WHERE project_id = :p"), {"p": pid}).mappings().all()
            cands: dict[int, list[tuple]] = defaultdict(list)
            for iid, origin, model, text in conn.execute(sa.text(
                    "SELECT c.instruction_id, c.origin, c.model, c.text FROM candidates c JOIN instructions i "
                    "ON i.id = c.instruction_id WHERE i.project_id = :p"), {"p": pid}):
                cands[iid].append((origin, model, text))
    finally:
        engine.dispose()
    by_ext: dict[str, dict] = {}
    for row in rows:
        row = dict(row)
        if isinstance(row["metadata"], str):  # SQLite hands JSON back as text here
            row["metadata"] = json.loads(row["metadata"])
        assert row["external_id"] not in by_ext, f"duplicate external_id {row['external_id']!r}"
        by_ext[row["external_id"]] = row
    return by_ext, cands


def test_parallel_clients_with_overlapping_external_ids_count_exactly(live: str, tmp_path, shared_data) -> None:
    tasks = load_tasks(shared_data)
    tokens = [secret for _, secret in add_users(live, ["admin"] + ["reviewer" if i % 2 else "admin"
                                                                   for i in range(CLIENTS)])]
    tally = Tally()
    with serve(live, tmp_path) as server:
        admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=60)
        resp = admin.post("/api/v1/projects", json={"name": "Parallel ingest"})
        assert resp.status_code == 201, resp.text
        slug = resp.json()["slug"]
        start = threading.Barrier(CLIENTS)
        threads = [threading.Thread(target=client_loop, args=(server.url, token, slug, tasks, seed, start, tally))
                   for seed, token in enumerate(tokens[1:])]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        load_requests = tally.requests
        rows, cands = stored(live, slug)
        # What is stored is exactly the last version written: sending it again must change nothing.
        number = _numbers(tasks, set(rows) | set(tally.sent))
        again = [version(tasks, number[ext], row["metadata"]["version"]) for ext, row in rows.items()]
        resent = [post_batch(admin, slug, again[i:i + 1000], tally) for i in range(0, len(again), 1000)]
        admin.close()
        server_log = server.output()

    distinct = len(tally.sent)
    figures = {"clients": CLIENTS, "batches_per_client": BATCHES, "requests": load_requests,
               "items_sent": tally.items, "distinct_ids": distinct, "rows": len(rows),
               "created_answers": tally.created, "updated_answers": tally.updated, "retried": dict(tally.retries),
               "seconds": round(elapsed, 1)}
    print(f"\nparallel ingest on {sa.engine.make_url(live).get_backend_name()}: {figures}")
    assert not tally.errors, f"errors: {tally.errors[:5]}\n{server_log}"
    assert "Traceback" not in server_log, server_log
    assert tally.items == CLIENTS * sum(min(BATCH_ITEMS, GROWTH * (b + 2)) for b in range(BATCHES)), figures
    assert len(rows) == distinct, figures  # nothing lost, nothing extra
    assert set(rows) == set(tally.sent)
    assert tally.created == distinct, figures  # every id created exactly once
    split_ids = {ext: ids for ext, ids in tally.answered_ids.items() if ids != {rows[ext]["id"]}}
    assert not split_ids, f"answers named other rows than the stored one: {list(split_ids.items())[:5]}"
    for ext, row in rows.items():
        n = number[ext]
        v = row["metadata"]["version"]
        assert v in tally.sent[ext], (ext, v, tally.sent[ext])
        expected = version(tasks, n, v)
        assert {k: row[k] for k in ("instruction", "input", "source", "metadata")} == {
            k: expected[k] for k in ("instruction", "input", "source", "metadata")}, ext
        have = cands[row["id"]]
        assert len(have) == len(set(have)), f"{ext}: a candidate stored twice: {Counter(have).most_common(1)}"
        allowed = {("imported", c["model"], c["text"]) for s in tally.sent[ext] for c in version(tasks, n, s)
                   ["candidates"]}
        assert set(have) <= allowed, f"{ext}: candidates never sent for it: {set(have) - allowed}"
        assert {("imported", c["model"], c["text"]) for c in expected["candidates"]} <= set(have), ext
    assert all(r is not None for r in resent)
    assert sum(r["unchanged"] for r in resent) == len(rows), resent


def _numbers(tasks: list[dict], external_ids) -> dict[str, int]:
    """{external_id: the pool number version() made it from}."""
    index = {t["id"]: i for i, t in enumerate(tasks)}
    out = {}
    for ext in external_ids:
        _, copy, task_id = ext.split("-", 2)
        out[ext] = int(copy) * len(tasks) + index[task_id]
    return out
