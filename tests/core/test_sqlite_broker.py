"""The embedded SQLite broker when several processes open a new broker file at the same moment.

The web sends its first task while the worker declares its queues: both find no tables and no queue rows and
both create them. Here real processes (two worker-like ones that declare the queues and then consume, three that
send tasks through the app's Celery producer) start on a fresh broker file behind a barrier, several rounds in
a row; no process may fail, and every task sent must be received exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import sqlite3
import time
import traceback
from pathlib import Path

ROUNDS = 3
SENDERS = 3
CONSUMERS = 2
PER_SENDER = 4
QUEUES = ("default", "training")
TIMEOUT_S = 90.0


def _url(folder: str, round_no: int) -> str:
    return f"sqla+sqlite:///{Path(folder) / f'broker-{round_no}.db'}"


def _sender(folder: str, index: int, barrier, results) -> None:
    from app.core.queue import make_celery

    for round_no in range(ROUNDS):
        app = make_celery(_url(folder, round_no))
        error = None
        barrier.wait(timeout=TIMEOUT_S)
        try:
            for seq in range(PER_SENDER):
                app.send_task("tuneloop.system.ping", args=[f"{round_no}:{index}:{seq}"],
                              queue=QUEUES[seq % len(QUEUES)])
        except Exception:
            error = traceback.format_exc()
        results.put(("sender", round_no, index, error, []))
        barrier.wait(timeout=TIMEOUT_S)


def _consumer(folder: str, index: int, barrier, results, received) -> None:
    from app.core.queue import make_celery

    expected = SENDERS * PER_SENDER
    for round_no in range(ROUNDS):
        app = make_celery(_url(folder, round_no))
        got: list[str] = []
        error = None
        barrier.wait(timeout=TIMEOUT_S)
        try:
            with app.connection_for_read() as conn:
                channel = conn.default_channel
                # What a worker does first: declare every queue it consumes from.
                for declared in app.amqp.queues.values():
                    declared(channel).declare()
                deadline = time.monotonic() + TIMEOUT_S
                while received[round_no] < expected and time.monotonic() < deadline:
                    for name in QUEUES:
                        message = channel.basic_get(name, no_ack=True)
                        if message is not None:
                            got.append(message.decode()[0][0])
                            with received.get_lock():
                                received[round_no] += 1
                    time.sleep(0.02)
        except Exception:
            error = traceback.format_exc()
        results.put(("consumer", round_no, index, error, got))
        barrier.wait(timeout=TIMEOUT_S)


def test_processes_starting_together_on_a_new_broker_file_lose_and_repeat_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(SENDERS + CONSUMERS)
    results = ctx.Queue()
    received = ctx.Array("i", ROUNDS)
    procs = [ctx.Process(target=_sender, args=(str(tmp_path), i, barrier, results)) for i in range(SENDERS)]
    procs += [ctx.Process(target=_consumer, args=(str(tmp_path), i, barrier, results, received))
              for i in range(CONSUMERS)]
    for proc in procs:
        proc.start()
    reports = []
    try:
        while len(reports) < ROUNDS * len(procs):
            reports.append(results.get(timeout=TIMEOUT_S * 2))
            if reports[-1][3]:
                break  # the others would only wait at the barrier for the failed one
    except queue_mod.Empty:
        pass
    finally:
        failed = len(reports) < ROUNDS * len(procs)
        for proc in procs:
            proc.join(timeout=0 if failed else 30)
            if proc.is_alive():
                proc.kill()

    errors = [f"round {r} {role} {i}:\n{err}" for role, r, i, err, _ in reports if err]
    assert not errors, "\n".join(errors)
    assert len(reports) == ROUNDS * len(procs), f"only {len(reports)} reports came back: {reports}"
    for round_no in range(ROUNDS):
        sent = sorted(f"{round_no}:{i}:{s}" for i in range(SENDERS) for s in range(PER_SENDER))
        got = sorted(n for role, r, _, _, names in reports if r == round_no for n in names)
        assert got == sent, f"round {round_no}: received {got}, sent {sent}"
        # Nothing stored twice or left behind, and the queue rows were created once each.
        with sqlite3.connect(tmp_path / f"broker-{round_no}.db") as db:
            assert db.execute("SELECT count(*) FROM kombu_message").fetchone()[0] == len(sent)
            assert db.execute("SELECT count(*) FROM kombu_message WHERE visible").fetchone()[0] == 0
            assert sorted(r[0] for r in db.execute("SELECT name FROM kombu_queue")) == sorted(QUEUES)
