"""Login throttling against password guessing, per e-mail and per client address."""

from __future__ import annotations

from functools import lru_cache

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.core.config import get_settings


@lru_cache
def _limiter() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(MemoryStorage())


def login_allowed(email: str, address: str) -> bool:
    """Counts this attempt; False once either the e-mail or the address is over the limit."""
    limit = parse(get_settings().login_rate_limit)
    limiter = _limiter()
    ok_email = limiter.hit(limit, "login-email", email.strip().lower())
    ok_addr = limiter.hit(limit, "login-addr", address)
    return ok_email and ok_addr


def reset() -> None:
    _limiter.cache_clear()
