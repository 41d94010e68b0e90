"""Stored template rows for mixture tests and benchmarks, inserted fast (COPY on PostgreSQL, one executemany
transaction on SQLite): instructions with Flan's metadata and a reference candidate each.

Sources and tasks are shaped like the Flan collection (Flan2021, T0, CoT, NIv2, Dialog, plus a source no recipe
names), with the four prompt settings and some inverted rows. Texts are T0 prompts and completions when the
shared data is there (their template names give the T0 tasks), else generated.
"""

from __future__ import annotations

import gzip
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

T0_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "t0-train-50k" / "t0_train_50k.jsonl.gz"
SETTINGS = ("zs-opt", "fs-opt", "zs-noopt", "fs-noopt")
# Share of the fixture's rows, tasks, and share of inverted rows, per source.
SHAPE = {"Flan2021": (0.34, 60, 0.10), "T0": (0.28, 0, 0.0), "CoT": (0.17, 9, 0.25), "NIv2": (0.12, 300, 0.0),
         "Dialog": (0.07, 4, 0.0), "Other": (0.02, 5, 0.0)}
INST_COLS = ("id, project_id, instruction, input, system, history, split, source, metadata, status, content_hash, "
             "construction, created_at, updated_at")
CAND_COLS = "id, instruction_id, text, model, origin, construction, metadata, created_at"


def t0_texts(limit: int | None = None, chars: int = 300) -> list[tuple[str, str, str]]:
    """(prompt, completion, template name) of the T0 rows, prompts cut to `chars`."""
    if not T0_FILE.is_file():
        return []
    out = []
    with gzip.open(T0_FILE, "rb") as fh:
        for line in itertools.islice(fh, limit):
            row = orjson.loads(line)
            out.append((row["prompt"][:chars], row["completion"].removesuffix("<|endoftext|>").strip(),
                        row["template"]))
    return out


def t0_task(template: str) -> str:
    """A T0 template's dataset, near enough: its name's first two words (ag_news_classify -> ag_news)."""
    return "_".join(template.split("_")[:2])


def _plan(n: int, texts: list[tuple[str, str, str]], seed: int) -> Iterator[tuple[str, str, str, bool, str, str]]:
    """(source, task, setting, inverted, prompt, target) for n rows; task sizes vary (a few big ones)."""
    rng = random.Random(seed)
    t0_tasks = sorted({t0_task(t) for _, _, t in texts}) or [f"t0_task_{i}" for i in range(40)]
    generated = itertools.cycle(texts or [(f"Question {i}: what is {i} plus {i}?", str(2 * i), "gen")
                                          for i in range(1000)])
    for source, (share, tasks, inverted_share) in SHAPE.items():
        names = t0_tasks if source == "T0" else [f"{source.lower()}_task_{i}" for i in range(tasks)]
        # Zipf-like sizes: some tasks far larger than the others, so the caps matter.
        weights = [1.0 / (i + 1) ** 0.8 for i in range(len(names))]
        for _ in range(round(n * share)):
            task = rng.choices(names, weights)[0]
            prompt, target, _template = next(generated)
            yield (source, task, SETTINGS[rng.randrange(4)], rng.random() < inverted_share, prompt, target)


def rows(project_id: int, n: int, first_id: int, seed: int = 0, texts=None) -> Iterator[tuple[tuple, tuple]]:
    now = datetime.now(UTC)
    for k, (source, task, setting, inverted, prompt, target) in enumerate(_plan(n, texts or [], seed)):
        iid = first_id + k
        meta = {"_task_name": task, "_task_source": source, "_template_idx": k % 10, "_template_type": setting,
                "_template_kind": "inverted" if inverted else "zero-shot", "template_id": k % 10 + 1,
                "template_version": 1}
        inst = (iid, project_id, f"{prompt} [#{iid}]", "", "", "[]", "train", source, orjson.dumps(meta).decode(),
                "pending", f"{iid:064x}", "template", now, now)
        cand = (iid, iid, target, "", "reference", "template", "{}", now)
        yield inst, cand


def bulk_load(url: str, project_id: int, n: int, *, seed: int = 0, texts=None) -> int:
    """Insert n template rows into the project; returns how many. Ids continue after the tables' largest."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        first = 1 + max(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM instructions")).scalar_one(),
                        conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM candidates")).scalar_one())
    raw = eng.raw_connection()
    try:
        data = rows(project_id, n, first, seed, texts)
        if url.startswith("postgresql"):
            _pg_copy(raw, data)
        else:
            _sqlite_insert(raw, data)
        raw.commit()
    finally:
        raw.close()
    if url.startswith("postgresql"):
        with eng.begin() as conn:
            for table in ("instructions", "candidates"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
            conn.execute(sa.text("ANALYZE instructions; ANALYZE candidates"))
    eng.dispose()
    return n


def _pg_copy(raw: Any, data: Iterator[tuple[tuple, tuple]]) -> None:
    cur = raw.cursor()
    for chunk in iter(lambda: list(itertools.islice(data, 50_000)), []):
        with cur.copy(f"COPY instructions ({INST_COLS}) FROM STDIN") as copy:
            for inst, _ in chunk:
                copy.write_row(inst)
        with cur.copy(f"COPY candidates ({CAND_COLS}) FROM STDIN") as copy:
            for _, cand in chunk:
                copy.write_row(cand)


def _sqlite_insert(raw: Any, data: Iterator[tuple[tuple, tuple]]) -> None:
    cur = raw.cursor()
    cur.execute("BEGIN")
    for chunk in iter(lambda: list(itertools.islice(data, 50_000)), []):
        cur.executemany(f"INSERT INTO instructions ({INST_COLS}) VALUES ({', '.join('?' * 14)})",
                        [_iso(inst) for inst, _ in chunk])
        cur.executemany(f"INSERT INTO candidates ({CAND_COLS}) VALUES ({', '.join('?' * 8)})",
                        [_iso(cand) for _, cand in chunk])


def _iso(row: tuple) -> tuple:
    # SQLAlchemy's SQLite DateTime stores "YYYY-MM-DD HH:MM:SS.ffffff".
    return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)
