"""The shared limiter on the database (when the broker is not Redis): a small table of leases and hits.

Each attempt is one short transaction serialised per backend: PostgreSQL takes a transaction-scoped advisory
lock on the backend's name; SQLite's BEGIN IMMEDIATE (app/core/db.py) already lets one writer in at a time.
Inside it, expired rows go, the live ones are counted, and a lease and a hit are added only if every limit
has room. Times come from the database's clock, so workers on several hosts agree on them; a hit whose
commit was slow is dated again, so its minute starts no earlier than its request can.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, func, insert, literal_column, select, text, update

from app.backends.config import BackendConfig
from app.backends.limiter import SharedLimiter
from app.core.db import get_engine
from app.models import BackendSlot

LEASE, HIT = "lease", "hit"
MAX_STAMP_AGE_S = 0.05
NOW_SQL = {"postgresql": "extract(epoch from clock_timestamp())",
           "sqlite": "(julianday('now') - 2440587.5) * 86400.0"}


class DatabaseLimiter(SharedLimiter):
    def _now(self, conn: Connection) -> float:
        return float(conn.scalar(select(literal_column(NOW_SQL[conn.dialect.name]))))

    def try_acquire(self, config: BackendConfig, tokens: int, holder: str) -> float | None:
        wait, stamped_at = self._take(config, tokens, holder)
        if wait is not None:
            return wait
        # The hit is dated when its transaction read the clock; a slow commit (a WAL checkpoint, a busy disk)
        # would date it before the request can start, and its window would end early. Date it again until a
        # commit was quick.
        while time.monotonic() - stamped_at > MAX_STAMP_AGE_S and (config.limits.rpm or config.limits.tpm):
            stamped_at = self._restamp(config.name, holder)
        return None

    def _lock(self, conn: Connection, name: str) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"tuneloop-limit:{name}"})

    def _take(self, config: BackendConfig, tokens: int, holder: str) -> tuple[float | None, float]:
        name, limits = config.name, config.limits
        with get_engine().begin() as conn:
            self._lock(conn, name)
            now = self._now(conn)
            conn.execute(delete(BackendSlot).where(BackendSlot.backend == name, BackendSlot.expires_at <= now))
            live = {kind: (count, cost or 0, oldest) for kind, count, cost, oldest in conn.execute(
                select(BackendSlot.kind, func.count(), func.sum(BackendSlot.cost), func.min(BackendSlot.expires_at))
                .where(BackendSlot.backend == name).group_by(BackendSlot.kind))}
            leases = live.get(LEASE, (0, 0, None))[0]
            hits, spent, oldest_hit = live.get(HIT, (0, 0, None))
            if (limits.rpm and hits >= limits.rpm) or (limits.tpm and spent + tokens > limits.tpm):
                return max(0.0, oldest_hit - now), 0.0  # room again once the oldest hit leaves the window
            if leases >= max(1, limits.max_concurrency):
                return 0.0, 0.0  # every slot is taken: poll again soon
            now, stamped_at = self._now(conn), time.monotonic()
            rows = [{"backend": name, "kind": LEASE, "holder": holder, "cost": 0, "expires_at": now + self.lease_ttl_s}]
            if limits.rpm or limits.tpm:
                rows.append({"backend": name, "kind": HIT, "holder": holder, "cost": tokens,
                             "expires_at": now + self.window_s})
            conn.execute(insert(BackendSlot), rows)
        return None, stamped_at

    def _restamp(self, name: str, holder: str) -> float:
        with get_engine().begin() as conn:
            self._lock(conn, name)
            now, stamped_at = self._now(conn), time.monotonic()
            conn.execute(update(BackendSlot).where(BackendSlot.backend == name, BackendSlot.kind == HIT,
                                                   BackendSlot.holder == holder)
                         .values(expires_at=now + self.window_s))
        return stamped_at

    def renew(self, name: str, holder: str) -> None:
        with get_engine().begin() as conn:
            conn.execute(update(BackendSlot).where(BackendSlot.backend == name, BackendSlot.kind == LEASE,
                                                   BackendSlot.holder == holder)
                         .values(expires_at=self._now(conn) + self.lease_ttl_s))

    def release(self, name: str, holder: str) -> None:
        with get_engine().begin() as conn:
            conn.execute(delete(BackendSlot).where(BackendSlot.backend == name, BackendSlot.kind == LEASE,
                                                   BackendSlot.holder == holder))
