"""Document collections: ingest and index a 100 MB text corpus, and full-text query latency at 1,000,000 passages.

Ingest: a corpus of T0 rows (shared/data/t0-train-50k, prompt and completion as paragraphs, repeated until it
reaches the size) written as 1 MB text files, stored through the real service (extract, split into passages,
insert, the database's full-text index kept in step by triggers or a generated column), one commit per file,
in a fresh process per database so its peak RSS is the ingest's own. Figures: passages per second, MB per
second, peak RSS.

Query: a fresh PostgreSQL database with 1,000,000 passages of T0 text (COPY, then the GIN index built once),
then 300 searches of one to three words drawn from the corpus (common and rare words alike) through the same
function the search box and the REST endpoint call; p50, p95 and p99 latency. `--quick`: 10 MB and 50,000.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ingest import ROOT, _fresh_pg

T0 = ROOT.parent / "shared" / "data" / "t0-train-50k" / "t0_train_50k.jsonl.gz"
FILE_BYTES = 1 << 20
QUERIES = 300

INGEST = r"""
import json, sys, time, resource
sys.path.insert(0, {root!r})
from pathlib import Path
from sqlalchemy.orm import Session
from app.cli import run_migrations
from app.core.db import make_engine
from app.documents.service import ingest_file
from app.models import Project
url, folder = {url!r}, Path({folder!r})
run_migrations(url)
engine = make_engine(url)
files = sorted(folder.glob("*.txt"))
started = time.perf_counter()
passages = documents = 0
with Session(engine) as session:
    project = Project(name="Bench", slug="bench")
    session.add(project)
    session.commit()
    for path in files:
        for outcome in ingest_file(session, project=project, name=path.name, path=path, licence="bench"):
            assert outcome.document is not None, outcome.message
            passages += outcome.document.passage_count
            documents += 1
        session.commit()
elapsed = time.perf_counter() - started
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({{"documents": documents, "passages": passages, "seconds": round(elapsed, 1),
                  "peak_rss_mb": round(int(hwm.split()[1]) / 1024)}}))
"""


def _t0_texts() -> list[str]:
    rows = []
    with gzip.open(T0, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            rows.append(row["prompt"].strip() + "\n\n" + row["completion"].replace("<|endoftext|>", "").strip())
    return rows


def write_corpus(folder: Path, total_bytes: int, texts: list[str]) -> int:
    """1 MB text files of T0 rows, repeated until `total_bytes`; returns the bytes written."""
    written, number, index = 0, 0, 0
    while written < total_bytes:
        parts, size = [], 0
        while size < FILE_BYTES:
            # Each repetition is numbered: the same row twice would make a duplicate document otherwise.
            text = f"{texts[index % len(texts)]}\n\n(copy {index // len(texts)})"
            parts.append(text)
            size += len(text.encode()) + 2
            index += 1
        data = "\n\n".join(parts).encode()
        (folder / f"part-{number:05d}.txt").write_bytes(data)
        written += len(data)
        number += 1
    return written


def ingest(url: str, folder: Path, corpus_bytes: int) -> dict:
    code = INGEST.format(root=str(ROOT), url=url, folder=str(folder))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, TUNELOOP_DATA_DIR=str(folder.parent / "var")))
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["mb"] = round(corpus_bytes / 2**20, 1)
    out["passages_per_s"] = round(out["passages"] / out["seconds"])
    out["mb_per_s"] = round(out["mb"] / out["seconds"], 2)
    return out


def _passages(texts: list[str], n: int) -> list[str]:
    """n passage-sized pieces (about 300-700 characters) of the T0 texts, repeated as needed."""
    pieces = []
    for text in texts:
        flat = " ".join(text.split())
        pieces += [flat[i:i + 600] for i in range(0, len(flat), 600) if len(flat[i:i + 600]) > 80]
    return [pieces[i % len(pieces)] + (f" r{i // len(pieces)}" if i >= len(pieces) else "") for i in range(n)]


def query_p95(texts: list[str], n: int) -> dict:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from app.cli import run_migrations
    from app.core.db import make_engine
    from app.documents.search import search

    url, drop = _fresh_pg()
    try:
        run_migrations(url)
        engine = make_engine(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            project = conn.execute(sa.text("INSERT INTO projects (name, slug, guidelines, settings, created_at, "
                                           "updated_at) VALUES ('Bench', 'bench', '', '{}', now(), now()) "
                                           "RETURNING id")).scalar_one()
            document = conn.execute(sa.text(
                "INSERT INTO documents (project_id, name, title, format, licence, content_hash, size_bytes, chars, "
                "passage_count, split_settings, created_at) VALUES (:p, 'bench', 'bench', 'text', '', 'x', 0, 0, "
                ":n, '{}', now()) RETURNING id"), {"p": project, "n": n}).scalar_one()
            conn.execute(sa.text("DROP INDEX ix_passages_search_vector"))  # built once, after the load
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur, cur.copy("COPY passages (document_id, project_id, position, key, heading, "
                                               "text, char_start, char_end) FROM STDIN") as copy:
                for i, text in enumerate(_passages(texts, n)):
                    copy.write_row((document, project, i, f"p{i}", "", text, 0, len(text)))
            loaded = time.perf_counter() - started
            conn.execute(sa.text("CREATE INDEX ix_passages_search_vector ON passages USING gin (search_vector)"))
            conn.execute(sa.text("ANALYZE passages"))
        indexed = time.perf_counter() - started - loaded
        rng = random.Random(0)
        words = [w for w in re.findall(r"[a-z]{4,}", " ".join(rng.sample(texts, 2000)).lower())]
        queries = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) for _ in range(QUERIES)]
        times, found = [], 0
        with Session(engine) as session:
            search(session, project, "warm up")
            for q in queries:
                t = time.perf_counter()
                found += bool(search(session, project, q, limit=20))
                times.append((time.perf_counter() - t) * 1000)
        engine.dispose()
        times.sort()
        return {"passages": n, "load_s": round(loaded), "index_s": round(indexed), "queries": len(times),
                "with_hits": found, "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(0.95 * len(times)) - 1], 1),
                "p99_ms": round(times[int(0.99 * len(times)) - 1], 1)}
    finally:
        drop()


def run(quick: bool = False, extra: list[str] | None = None) -> dict:
    texts = _t0_texts()
    size = (10 if quick else 100) * 2**20
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="tuneloop-docs-") as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        written = write_corpus(folder, size, texts)
        print(f"corpus: {written / 2**20:.0f} MB in {len(list(folder.glob('*.txt')))} files", flush=True)
        results["ingest_sqlite"] = ingest(f"sqlite:///{tmp}/bench.db", folder, written)
        print("ingest sqlite", results["ingest_sqlite"], flush=True)
        url, drop = _fresh_pg()
        try:
            results["ingest_postgresql"] = ingest(url, folder, written)
        finally:
            drop()
        print("ingest postgresql", results["ingest_postgresql"], flush=True)
    results["query_postgresql"] = query_p95(texts, 50_000 if quick else 1_000_000)
    print("query", results["query_postgresql"], flush=True)
    return results
