"""The shared limiter on Redis: leases in a sorted set (a Lua script), rpm and tpm as `limits` moving windows.

`limits` has no semaphore, so concurrency is a sorted set per backend whose members are leases scored by
their expiry; one script drops expired leases and adds a new one only while fewer than `max_concurrency`
remain, using Redis's own clock so every worker agrees on what has expired. Requests and tokens per minute
are `limits` moving windows (exact: no burst at a window's edge). A moving window keeps one entry per unit,
so tokens are counted in units of tpm/100,000 where tpm is larger (a request's count rounded up, the limit
down: never more than tpm), and a window never holds more than 100,000 entries.
"""

from __future__ import annotations

import math
import time

import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from app.backends.config import BackendConfig
from app.backends.limiter import LEASE_TTL_S, WINDOW_S, SharedLimiter

PREFIX = "tuneloop:backend"
TOKEN_UNITS = 100_000  # most entries a tpm window holds

# KEYS[1] the lease set; ARGV: holder, max leases, ttl (s). 1 when the lease was taken, else 0.
ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""
# KEYS[1] the lease set; ARGV: holder, ttl (s). Pushes the holder's expiry ahead if it still holds a lease.
RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
if redis.call('ZADD', KEYS[1], 'XX', 'CH', t + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
end
return 1
"""


class RedisLimiter(SharedLimiter):
    def __init__(self, url: str, window_s: float = WINDOW_S, lease_ttl_s: float = LEASE_TTL_S) -> None:
        super().__init__(window_s, lease_ttl_s)
        self.redis = redis.Redis.from_url(url)
        self.windows = MovingWindowRateLimiter(RedisStorage(url, connection_pool=self.redis.connection_pool))
        self._acquire = self.redis.register_script(ACQUIRE)
        self._renew = self.redis.register_script(RENEW)

    def _item(self, amount: int) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(amount, multiples=max(1, round(self.window_s)))

    def try_acquire(self, config: BackendConfig, tokens: int, holder: str) -> float | None:
        name, limits = config.name, config.limits
        leases = f"{PREFIX}:{name}:leases"
        if limits.rpm and not self.windows.test(rpm := self._item(limits.rpm), PREFIX, name, "rpm"):
            # The minute's requests are spent: wait for the window, holding no lease meanwhile.
            return max(0.0, self.windows.get_window_stats(rpm, PREFIX, name, "rpm").reset_time - time.time())
        if not self._acquire(keys=[leases], args=[holder, max(1, limits.max_concurrency), self.lease_ttl_s]):
            return 0.0  # every slot is taken: poll again soon
        if limits.tpm:
            unit = max(1, limits.tpm // TOKEN_UNITS)
            tpm, cost = self._item(limits.tpm // unit), math.ceil(tokens / unit)
            # Tested before the request is counted, so a request refused for tokens does not spend one of rpm.
            if not self.windows.test(tpm, PREFIX, name, "tpm", cost=cost):
                return self._refused(leases, holder, tpm, name, "tpm")
        if limits.rpm:
            rpm = self._item(limits.rpm)
            if not self.windows.hit(rpm, PREFIX, name, "rpm"):
                return self._refused(leases, holder, rpm, name, "rpm")
        if limits.tpm and not self.windows.hit(tpm, PREFIX, name, "tpm", cost=cost):
            # Another worker took the tokens since the test: this request's rpm hit is spent (safe side).
            return self._refused(leases, holder, tpm, name, "tpm")
        return None

    def _refused(self, leases: str, holder: str, item: RateLimitItemPerSecond, name: str, what: str) -> float:
        """Give the lease back to whoever can use it, and wait until the window's oldest entry has passed."""
        self.redis.zrem(leases, holder)
        reset = self.windows.get_window_stats(item, PREFIX, name, what).reset_time
        return max(0.0, reset - time.time())

    def renew(self, name: str, holder: str) -> None:
        self._renew(keys=[f"{PREFIX}:{name}:leases"], args=[holder, self.lease_ttl_s])

    def release(self, name: str, holder: str) -> None:
        self.redis.zrem(f"{PREFIX}:{name}:leases", holder)
