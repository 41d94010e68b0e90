"""Settings from env and .env; the Celery app's shape; tasks sent only after a commit."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from app.core.config import Settings
from app.models import WorkerPing
from tests.conftest import reset_app_caches, wait_for


def test_embedded_defaults_live_under_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("TUNELOOP_DATABASE_URL", raising=False)
    monkeypatch.delenv("TUNELOOP_BROKER_URL", raising=False)
    monkeypatch.delenv("TUNELOOP_SECRET_KEY", raising=False)
    s = Settings(data_dir=tmp_path / "var")
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'tuneloop.db'}"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path / 'var' / 'broker.db'}"
    key = s.resolved_secret_key()
    assert len(key) > 40 and s.resolved_secret_key() == key  # kept across restarts


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("TUNELOOP_DATABASE_URL=postgresql+psycopg://u@h/db\nTUNELOOP_MAX_BATCH_ITEMS=7\n")
    code = "from app.core.config import Settings; s = Settings(); print(s.database_url, s.max_batch_items)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELOOP_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "PYTHONPATH": os.getcwd()},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["postgresql+psycopg://u@h/db", "7"], out.stderr


def test_celery_app_has_the_documented_shape():
    from app.core.queue import make_celery

    conf = make_celery("redis://127.0.0.1:6379/0").conf
    assert {q.name for q in conf.task_queues} == {"default", "training"}
    assert conf.task_acks_late is True and conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] >= 24 * 3600


def test_task_is_sent_after_commit_and_never_after_rollback(start_worker):
    from app.core.db import get_sessionmaker
    from app.core.queue import enqueue_after_commit

    start_worker(queues="default")
    factory = get_sessionmaker()
    with factory() as session:
        enqueue_after_commit(session, "tuneloop.system.ping", "rolled-back")
        session.rollback()
    with factory() as session:
        enqueue_after_commit(session, "tuneloop.system.ping", "committed")
        session.commit()

    def answered():
        with factory() as s:
            return s.scalars(select(WorkerPing.nonce)).all()

    assert wait_for(lambda: "committed" in answered(), timeout=60, message="the committed ping")
    assert "rolled-back" not in answered()
    reset_app_caches()
