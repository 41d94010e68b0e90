"""The shared limiter on the database (when the broker is not Redis): a small table of leases and hits.

Each attempt is one short transaction serialised per backend: PostgreSQL takes a transaction-scoped advisory
lock on the backend's name; SQLite's BEGIN IMMEDIATE (app/core/db.py) already lets one writer in at a time.
Inside it, expired rows go, the live ones are counted, and a lease and a hit are added only if every limit
has room. Times come from the database's clock, so workers on several hosts agree on them; a hit whose
commit was slow is dated again, so its minute starts no earlier than its request can.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, and_, delete, func, insert, literal_column, or_, select, text, update

from app.backends.config import BackendConfig
from app.backends.limiter import SharedLimiter
from app.core.db import get_engine
from app.models import BackendSlot

LEASE, HIT = "lease", "hit"
MAX_STAMP_AGE_S = 0.05
MAX_RESTAMPS = 5  # a machine too busy for one quick commit in five still gets its request out
NOW_SQL = {"postgresql": "extract(epoch from clock_timestamp())",
           "sqlite": "(julianday('now') - 2440587.5) * 86400.0"}


class DatabaseLimiter(SharedLimiter):
    def try_acquire(self, config: BackendConfig, tokens: int, holder: str) -> float | None:
        wait, stamped_at = self._take(config, tokens, holder)
        if wait is not None:
            return wait
        # The hit is dated when its transaction read the clock; a slow commit (a WAL checkpoint, a busy disk)
        # would date it before the request can start, and its window would end early. Date it again until a
        # commit was quick.
        for _ in range(MAX_RESTAMPS):
            if time.monotonic() - stamped_at <= MAX_STAMP_AGE_S or not (config.limits.rpm or config.limits.tpm):
                break
            stamped_at = self._restamp(config.name, holder)
        return None

    def _begin(self, conn: Connection, name: str) -> float:
        """Serialise on the backend and read the clock, in one round trip; the database's time, in seconds."""
        if conn.dialect.name == "postgresql":
            # Leases and hits live a minute at most: a crash may lose the last few, so no commit waits for disk.
            row = conn.execute(text("SELECT set_config('synchronous_commit', 'off', true), "
                                    f"pg_advisory_xact_lock(hashtext(:key)), {NOW_SQL['postgresql']}"),
                               {"key": f"tuneloop-limit:{name}"}).one()
            return float(row[2])
        return float(conn.scalar(select(literal_column(NOW_SQL[conn.dialect.name]))))

    def _take(self, config: BackendConfig, tokens: int, holder: str) -> tuple[float | None, float]:
        name, limits = config.name, config.limits
        with get_engine().begin() as conn:
            now = self._begin(conn, name)
            stamped_at = time.monotonic()
            live = {kind: (count, cost or 0, oldest) for kind, count, cost, oldest in conn.execute(
                select(BackendSlot.kind, func.count(), func.sum(BackendSlot.cost), func.min(BackendSlot.expires_at))
                .where(BackendSlot.backend == name, BackendSlot.expires_at > now).group_by(BackendSlot.kind))}
            leases = live.get(LEASE, (0, 0, None))[0]
            hits, spent, oldest_hit = live.get(HIT, (0, 0, None))
            if (limits.rpm and hits >= limits.rpm) or (limits.tpm and spent + tokens > limits.tpm):
                return max(0.0, oldest_hit - now), 0.0  # room again once the oldest hit leaves the window
            if leases >= max(1, limits.max_concurrency):
                return 0.0, 0.0  # every slot is taken: poll again soon
            rows = [{"backend": name, "kind": LEASE, "holder": holder, "cost": 0, "expires_at": now + self.lease_ttl_s}]
            if limits.rpm or limits.tpm:
                rows.append({"backend": name, "kind": HIT, "holder": holder, "cost": tokens,
                             "expires_at": now + self.window_s})
            conn.execute(insert(BackendSlot), rows)
        return None, stamped_at

    def _restamp(self, name: str, holder: str) -> float:
        with get_engine().begin() as conn:
            now, stamped_at = self._begin(conn, name), time.monotonic()
            conn.execute(update(BackendSlot).where(BackendSlot.backend == name, BackendSlot.kind == HIT,
                                                   BackendSlot.holder == holder)
                         .values(expires_at=now + self.window_s))
        return stamped_at

    def renew(self, name: str, holder: str) -> None:
        with get_engine().begin() as conn:
            conn.execute(update(BackendSlot).where(BackendSlot.backend == name, BackendSlot.kind == LEASE,
                                                   BackendSlot.holder == holder)
                         .values(expires_at=literal_column(NOW_SQL[conn.dialect.name]) + self.lease_ttl_s))

    def release(self, name: str, holder: str) -> None:
        """Give the lease back, and clear the backend's expired rows on the way (off the serialised path)."""
        with get_engine().begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            expired = BackendSlot.expires_at <= literal_column(NOW_SQL[conn.dialect.name])
            conn.execute(delete(BackendSlot).where(BackendSlot.backend == name, or_(
                and_(BackendSlot.kind == LEASE, BackendSlot.holder == holder), expired)))
