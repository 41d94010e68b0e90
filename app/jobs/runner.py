"""The engine that runs any kind's job: pending items in pages, requests sent concurrently, every answer stored
by request hash before anything else happens, then handled in batches with the counters in the same commit.

Three threads of work overlap: the event loop sends requests (bounded per backend); a store stage writes each
answer soon after it arrives (waiting a few milliseconds to gather the ones arriving with it); a handle stage
turns stored answers into records in batches, which grow by themselves while it is busy. Each stage holds its
own connection, so none waits for the pool or the others. A heartbeat thread proves the job alive and notices a
cancel. A kill at any moment loses at most the answers still in flight or in the store's short window: every
answer handled was stored first, so resume sends only what never reached the store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from app.backends.client import BackendClient
from app.backends.config import BackendConfig
from app.backends.limiter import Limiter
from app.backends.requests import BackendError, ModelRequest, ModelResponse, request_hash
from app.backends.resolve import backend_config
from app.core.beats import beating
from app.core.config import get_settings
from app.core.db import get_engine, session_scope
from app.core.errors import AppError, NotFound
from app.jobs.context import JobContext, add_event
from app.jobs.kinds import JobKind, get_kind
from app.jobs.outcome import Outcome
from app.jobs.store import load_stored, relax_durability, restore_durability, store_responses
from app.models import ItemStatus, Job, JobItem, JobStatus
from app.models.base import utcnow

log = logging.getLogger("tuneloop.jobs")
PAGE = 256  # pending items read at a time
PERSIST_BATCH = 512  # most answers stored and handled in one transaction
# How long a stage waits for more answers before its commit. Answers arrive one by one; committing each handful
# costs a round trip and a commit per few answers, and on a busy machine every round trip waits for the
# interpreter lock too. The store's window is short because an answer received but not yet stored is lost if the
# worker is killed (like one still in flight); handling may wait longer, its answers are already safe.
STORE_LINGER_S = 0.02
HANDLE_LINGER_S = 0.1
BREAKER = 25  # this many failed requests in a row, with no success between, stop the job


_items = JobItem.__table__
_ITEM_UPDATE = update(_items).where(_items.c.id == bindparam("item_id"))


class StopJob(Exception):
    """Ends the attempt: the job fails with this message and its pending items stay pending for resume."""


@dataclass
class Done:
    """One item's answer (or error) on its way to the persister."""

    item_id: int
    request_hash: str | None
    response: ModelResponse | None
    error: BackendError | None = None
    fresh: bool = False  # received now (to be stored), not reused from the store
    backend: str = ""
    work: dict[str, Any] | None = None  # what the kind's `work` made for the item, outside any transaction


def claim(job_id: int) -> bool:
    """queued → running, once; a redelivered task finds it running (or ended) and leaves it alone."""
    with session_scope() as session:
        claimed = session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(status=JobStatus.running, started_at=utcnow(), heartbeat_at=utcnow(), error=None,
                    attempts=Job.attempts + 1, finished_at=None)
            .execution_options(synchronize_session=False)).rowcount
        if claimed:
            add_event(session, job_id, "started", "A worker started the job.")
        return bool(claimed)


def end(job_id: int, status: JobStatus, message: str = "", *, event: str | None = None) -> bool:
    """running → an end state, unless someone (a cancel, the reaper) ended it first."""
    with session_scope() as session:
        ended = session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.running)
            .values(status=status, finished_at=utcnow(), error=message or None, updated_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
        if ended:
            add_event(session, job_id, event or status.value, message or f"The job {status.value}.")
        return bool(ended)


def run_job(job_id: int, *, limiter: Limiter | None = None) -> None:
    """Run a queued job to its end (or to a cancel, a stop, or a kill); safe to call twice."""
    if not claim(job_id):
        return
    runner = Runner(job_id, limiter=limiter)
    try:
        runner.prepare()
        beat_s = get_settings().job_heartbeat_s
        with beating(f"job {job_id}", beat_s, runner.beat):
            asyncio.run(runner.drive())
        runner.conclude()
    except StopJob as exc:
        end(job_id, JobStatus.failed, str(exc), event="stopped")
    except AppError as exc:
        end(job_id, JobStatus.failed, exc.message)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        end(job_id, JobStatus.failed, f"Internal error: {type(exc).__name__}: {exc}. Resume retries what is left.")


class Runner:
    def __init__(self, job_id: int, *, limiter: Limiter | None = None) -> None:
        self.job_id = job_id
        self.limiter = limiter
        self.stop = threading.Event()  # set by the heartbeat when the job was cancelled or ended elsewhere
        self.stop_reason: str | None = None  # why drive() stopped early (a StopJob message)
        self.kind: JobKind
        self.params: Any
        self.clients: dict[str, BackendClient] = {}
        self.configs: dict[str, BackendConfig] = {}
        self.in_row = 0  # failed requests in a row
        self.connections: dict[str, Connection] = {}  # the store and handle stages' own connections

    # ------------------------------------------------------------------ set-up and the end

    def prepare(self) -> None:
        """Parse the parameters, plan the first items once, and check the backends still exist."""
        with session_scope() as session:
            job = session.get(Job, self.job_id)
            self.kind = get_kind(job.kind)
            self.params = self.kind.Params.model_validate(job.params)
            self.configs = {name: backend_config(session, name) for name in job.backends or []}
            if not job.planned:
                ctx = JobContext(session, job, self.params)
                self.kind.plan(ctx)
                job.planned = True
                ctx.event("planned", f"Planned {job.items_total} items.", items=job.items_total)

    def beat(self, session: Session) -> None:
        """Proof of life; and the way a cancel (or the reaper's verdict) reaches a running job."""
        status = session.execute(
            update(Job).where(Job.id == self.job_id, Job.status == JobStatus.running)
            .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False)).rowcount
        if not status:
            self.stop.set()
            return
        for name in self.configs:
            try:
                backend_config(session, name)
            except NotFound:
                self.stop_reason = (f"Backend '{name}' was deleted while the job ran. Add it again under the same "
                                    "name and resume the job: answers already received are kept.")

    def conclude(self) -> None:
        if self.stop_reason:
            raise StopJob(self.stop_reason)
        if self.stop.is_set():
            return  # cancelled or ended elsewhere: that verdict stands
        with session_scope() as session:
            job = session.get(Job, self.job_id)
            if job.status != JobStatus.running:
                return
            ctx = JobContext(session, job, self.params)
            self.kind.finish(ctx)
            failed = job.items_failed
            message = (f"Finished with {failed} failed item{'s' * (failed != 1)}; 'Retry failed' sends them again."
                       if failed else "Finished.")
            session.flush()
        end(self.job_id, JobStatus.succeeded, "", event="succeeded")
        with session_scope() as session:
            add_event(session, self.job_id, "summary", message, done=job.items_done, rejected=job.items_rejected,
                      failed=failed)

    # ------------------------------------------------------------------ the loop

    async def drive(self) -> None:
        try:
            while not self._stopping():
                await self._one_pass()
                if self._stopping():
                    break
                if await asyncio.to_thread(self._pending_count):
                    continue  # items added behind the cursor (follow-ups of early items): another pass
                if not await asyncio.to_thread(self._advance):
                    break
        finally:
            for client in self.clients.values():
                await client.aclose()
            for connection in self.connections.values():
                restore_durability(connection)
                connection.close()
            self.connections.clear()

    def _stopping(self) -> bool:
        return self.stop.is_set() or self.stop_reason is not None

    async def _one_pass(self) -> None:
        """Every pending item once, in id order (items added meanwhile with higher ids included)."""
        queue: asyncio.Queue[Done | None] = asyncio.Queue()
        stored_queue: asyncio.Queue[Done | None] = asyncio.Queue()
        storer = asyncio.create_task(self._drain(queue, self._store, stored_queue, linger=STORE_LINGER_S))
        handler = asyncio.create_task(self._drain(stored_queue, self._handle_batch, linger=HANDLE_LINGER_S))
        sending: set[asyncio.Task[None]] = set()
        in_flight: dict[str, asyncio.Future[ModelResponse]] = {}
        slots = {name: asyncio.Semaphore(max(1, cfg.limits.max_concurrency)) for name, cfg in self.configs.items()}
        working = asyncio.Semaphore(1)  # local work runs one item at a time: each may load a model or a harness
        cursor = 0
        try:
            while not self._stopping():
                page = await asyncio.to_thread(self._pending_page, cursor)
                if not page:
                    break
                cursor = page[-1][0].id
                hashes = [h for _, _, h in page if h]
                stored = await asyncio.to_thread(load_stored, hashes) if hashes else {}
                for item, request, digest in page:
                    if self._stopping():
                        break
                    if request is None and self.kind.has_work:
                        task = asyncio.create_task(self._work(item, queue, working))
                        sending.add(task)
                        task.add_done_callback(sending.discard)
                    elif request is None:
                        queue.put_nowait(Done(item.id, None, None))
                    elif digest in stored:
                        queue.put_nowait(Done(item.id, digest, stored[digest]))
                    else:
                        if not await self._acquire(slots[request.backend]):
                            break
                        task = asyncio.create_task(self._send(item.id, request, digest, in_flight, queue,
                                                              slots[request.backend]))
                        sending.add(task)
                        task.add_done_callback(sending.discard)
            while sending and not self._stopping():
                await asyncio.wait(set(sending), timeout=0.25)
        finally:
            for task in sending:
                task.cancel()
            if sending:
                await asyncio.gather(*sending, return_exceptions=True)
            queue.put_nowait(None)
            await storer
            await handler

    async def _acquire(self, slot: asyncio.Semaphore) -> bool:
        """Wait for a free request slot, but notice a cancel meanwhile (False then)."""
        if not slot.locked():  # free now: no timer and no task, this runs once per request
            await slot.acquire()
            return True
        while not self._stopping():
            try:
                await asyncio.wait_for(slot.acquire(), timeout=0.25)
                return True
            except TimeoutError:
                continue
        return False

    async def _send(self, item_id: int, request: ModelRequest, digest: str,
                    in_flight: dict[str, asyncio.Future[ModelResponse]], queue: asyncio.Queue[Done | None],
                    slot: asyncio.Semaphore) -> None:
        try:
            if digest in in_flight:  # the same request is already on its way for another item: share it
                try:
                    response = await asyncio.shield(in_flight[digest])
                    queue.put_nowait(Done(item_id, digest, response))
                except BackendError as exc:
                    queue.put_nowait(Done(item_id, digest, None, exc))
                return
            future: asyncio.Future[ModelResponse] = asyncio.get_running_loop().create_future()
            in_flight[digest] = future
            try:
                response = await self._client(request.backend).send(request)
            except Exception as exc:
                if not isinstance(exc, BackendError):  # a fault of ours: the item fails, never loops forever
                    log.exception("job %s: asking backend %s failed", self.job_id, request.backend)
                    exc = BackendError(f"Internal error while asking backend '{request.backend}': "
                                       f"{type(exc).__name__}: {exc}")
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody shares it
                self._note_failure(exc)
                queue.put_nowait(Done(item_id, digest, None, exc))
                return
            finally:
                in_flight.pop(digest, None)
            future.set_result(response)
            self.in_row = 0
            queue.put_nowait(Done(item_id, digest, response, fresh=True, backend=request.backend))
        finally:
            slot.release()

    async def _work(self, item: JobItem, queue: asyncio.Queue[Done | None], working: asyncio.Semaphore) -> None:
        """The kind's local work for one item, in a thread; an error fails that item, never the job."""
        async with working:
            if self._stopping():
                return  # the item stays pending for the resume
            try:
                made = await asyncio.to_thread(self.kind.work, self.params, item)
            except AppError as exc:
                queue.put_nowait(Done(item.id, None, None, BackendError(exc.message)))
                return
            except Exception as exc:
                log.exception("job %s: the work of item %s failed", self.job_id, item.id)
                queue.put_nowait(Done(item.id, None, None, BackendError(f"Internal error: {type(exc).__name__}: "
                                                                        f"{exc}")))
                return
            queue.put_nowait(Done(item.id, None, None, work=made))

    def _client(self, name: str) -> BackendClient:
        if name not in self.clients:
            self.clients[name] = BackendClient(self.configs[name], limiter=self.limiter)
        return self.clients[name]

    def _note_failure(self, error: BackendError) -> None:
        if error.fatal:
            self.stop_reason = error.message
            return
        self.in_row += 1
        if self.in_row >= BREAKER:
            self.stop_reason = (f"{self.in_row} requests in a row failed, the last with: {error.message} "
                                "The job stopped; resume it once the backend answers again.")

    # ------------------------------------------------------------------ the database side (in threads)

    def _pending_page(self, cursor: int) -> list[tuple[JobItem, ModelRequest | None, str | None]]:
        """The next pending items after `cursor`, each with its request and that request's hash."""
        with session_scope() as session:
            job = session.get(Job, self.job_id)
            items = list(session.scalars(
                select(JobItem).where(JobItem.job_id == self.job_id, JobItem.status == ItemStatus.pending,
                                      JobItem.id > cursor).order_by(JobItem.id).limit(PAGE)))
            ctx = JobContext(session, job, self.params)
            page = []
            for item in items:
                request = self.kind.request(ctx, item)
                if request is not None and request.backend not in self.configs:
                    raise StopJob(f"Item {item.id} asks backend '{request.backend}', which this job did not name.")
                digest = request_hash(self.configs[request.backend].identity(), request) if request else None
                page.append((item, request, digest))
            session.expunge_all()
            return page

    def _pending_count(self) -> int:
        with session_scope() as session:
            return len(session.scalars(select(JobItem.id).where(
                JobItem.job_id == self.job_id, JobItem.status == ItemStatus.pending).limit(1)).all())

    def _advance(self) -> int:
        with session_scope() as session:
            job = session.get(Job, self.job_id)
            if job.status != JobStatus.running:
                return 0
            return self.kind.advance(JobContext(session, job, self.params))

    async def _drain(self, source: asyncio.Queue[Done | None], work: Any,
                     forward: asyncio.Queue[Done | None] | None = None, linger: float = 0.0) -> None:
        """Take as much as has arrived (up to PERSIST_BATCH, waiting `linger` seconds for more when few are
        there), do `work` on it in a thread, pass it on; a None ends the stream (and is passed on too)."""
        finished = False
        while not finished:
            first = await source.get()
            batch = [first] if first is not None else []
            finished = first is None
            if linger and not finished and source.qsize() < PERSIST_BATCH:
                await asyncio.sleep(linger)
            while not finished and len(batch) < PERSIST_BATCH and not source.empty():
                nxt = source.get_nowait()
                if nxt is None:
                    finished = True
                else:
                    batch.append(nxt)
            if batch:
                await asyncio.to_thread(work, batch)
            if forward is not None:
                for done in batch:
                    forward.put_nowait(done)
                if finished:
                    forward.put_nowait(None)

    def _store(self, batch: list[Done]) -> None:
        """Its own commit, first: whatever happens next, these answers are never asked for again."""
        fresh = [(d.request_hash, self.configs[d.backend], d.response) for d in batch if d.fresh]
        if fresh:
            with self._session("store") as session:
                store_responses(session, fresh)

    def _session(self, stage: str) -> Session:
        """A session on the stage's own connection, held for the whole attempt."""
        if stage not in self.connections:
            connection = get_engine().connect()
            relax_durability(connection)
            connection.commit()
            self.connections[stage] = connection
        return Session(bind=self.connections[stage], expire_on_commit=False)

    def _handle_batch(self, batch: list[Done]) -> None:
        try:
            self._handle_all(batch, guarded=False)
        except _HandlerRaised:
            # One answer's handler raised: do the batch again with each item in a savepoint of its own, so
            # that item fails with the error and nothing it half-wrote stays, while the others go through.
            self._handle_all(batch, guarded=True)

    def _handle_all(self, batch: list[Done], *, guarded: bool) -> None:
        with self._session("handle") as session, session.begin():
            job = session.get(Job, self.job_id)
            if job.status != JobStatus.running:
                self.stop.set()  # cancelled meanwhile: the answers are stored, the items stay pending
                return
            items = {i.id: i for i in session.scalars(select(JobItem).where(JobItem.id.in_([d.item_id
                                                                                         for d in batch])))}
            ctx = JobContext(session, job, self.params)
            if self.kind.has_work:
                ctx.batch["work"] = {d.item_id: d.work for d in batch if d.work is not None}
            self.kind.prepare(ctx, [i for i in items.values() if i.status == ItemStatus.pending])
            outcomes, changes = [], []
            for done in batch:
                item = items.get(done.item_id)
                if item is None or item.status != ItemStatus.pending:
                    continue
                if done.error is not None and done.error.fatal:
                    continue  # the job stops over it; the item stays pending for the resume
                outcome = self._handle(ctx, item, done) if guarded else self._handle_fast(ctx, item, done)
                ctx.keep_item_rows(outcome.status != ItemStatus.failed)
                changes.append({"item_id": item.id, "status": outcome.status, "reason": outcome.reason,
                                "error": outcome.error, "output": outcome.output or item.output,
                                "request_hash": done.request_hash, "attempts": item.attempts + 1,
                                "updated_at": utcnow()})
                outcomes.append(outcome)
            ctx.write_deferred()
            if changes:
                # By primary key in one executemany on the table, not object by object: the engine's hot path.
                session.execute(_ITEM_UPDATE, changes)
            ctx.count(outcomes)
            session.flush()

    def _handle_fast(self, ctx: JobContext, item: JobItem, done: Done) -> Outcome:
        if done.error is not None:
            return Outcome.failed(done.error.message)
        try:
            return self.kind.handle(ctx, item, done.response)
        except Exception as exc:
            raise _HandlerRaised from exc

    def _handle(self, ctx: JobContext, item: JobItem, done: Done) -> Outcome:
        if done.error is not None:
            return Outcome.failed(done.error.message)
        try:
            with ctx.session.begin_nested():
                return self.kind.handle(ctx, item, done.response)
        except AppError as exc:
            return Outcome.failed(exc.message)
        except Exception as exc:
            log.exception("job %s: handling item %s failed", self.job_id, item.id)
            return Outcome.failed(f"Internal error while handling the answer: {type(exc).__name__}: {exc}")


class _HandlerRaised(Exception):
    """A kind's handler raised in the fast path; the batch is redone item by item."""
