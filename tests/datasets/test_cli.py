"""`tuneloop dataset import`: a datasets save_to_disk folder and a real T0 slice come in as they are; a file with a
field changing type is refused row by row, with nothing stored."""

from __future__ import annotations

import gzip
import itertools
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "dataset", "import", *args], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)


def test_import_a_datasets_folder_a_t0_slice_and_a_bad_file(live, tmp_path, shared_data):
    from app.core.db import get_sessionmaker
    from app.datasets.service import records_between
    from app.models import Project, SourceDataset, SourceRecord

    with get_sessionmaker()() as session:
        session.add(Project(name="CLI", slug="cli-proj"))
        session.commit()
    rows = [{"question": "Is 7 prime?", "answer": "yes", "cot": "7 has no divisors but 1 and 7.", "n": 7},
            {"question": "Is 8 prime?", "answer": "no", "cot": "8 = 2 x 4.", "n": 8}]
    # Written by datasets' DatasetDict.save_to_disk (train and test splits), kept small in the repository.
    done = _cli(str(FIXTURES / "primes_hf"), "--project", "cli-proj", "--name", "primes", "--task", "prime_cot",
                "--source", "CoT")
    assert done.returncode == 0, done.stderr
    assert "dataset 'primes' (prime_cot, CoT): 2 records; fields: question (text), answer (text), cot (text), " \
           "n (number)" in done.stdout

    t0 = tmp_path / "t0.jsonl"
    with gzip.open(shared_data / "t0-train-50k" / "t0_train_50k.jsonl.gz", "rb") as fh:
        t0.write_bytes(b"".join(itertools.islice(fh, 300)))
    from app.datasets.service import import_path

    with get_sessionmaker()() as session:  # the command's own service, in this process (one start less)
        sliced = import_path(session, project_slug="cli-proj", path=t0, name="t0-slice", task="t0_mixed",
                             source="T0")
        session.commit()
        assert sliced.fields == {"prompt": "text", "completion": "text", "template": "text"}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "a", "label": 1}\n{"q": "b", "label": "one"}\n{oops\n', encoding="utf-8")
    failed = _cli(str(bad), "--project", "cli-proj", "--name", "bad", "--task", "t", "--source", "T0")
    assert failed.returncode == 1
    assert "2 bad rows in bad.jsonl, so nothing was stored" in failed.stderr
    assert "row 2: field 'label' is text here, but number in row 1" in failed.stderr
    assert "row 3: not valid JSON" in failed.stderr

    with get_sessionmaker()() as session:
        names = dict(session.execute(select(SourceDataset.name, SourceDataset.rows)).tuples().all())
        assert names == {"primes": 2, "t0-slice": 300}
        primes = session.scalar(select(SourceDataset).where(SourceDataset.name == "primes"))
        assert records_between(session, primes.id, 0, 10) == {0: rows[0], 1: rows[1]}
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 302
