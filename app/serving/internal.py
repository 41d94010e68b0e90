"""How the web app and the workers reach the model server, and how it knows the call is ours.

The model server answers only requests that carry a fresh HMAC of the current time under a key derived from the
app's secret key: /v1 checks the user's token first, so nobody who can reach the model server's port can skip that
check. The header never appears in a log line or a page."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from app.core.config import get_settings

HEADER = "X-Tuneloop-Internal"
MAX_AGE_S = 300  # a signature older than this (or from this far in the future) is refused


def _key() -> bytes:
    # Derived, not the secret key itself: a leaked header value reveals nothing that signs cookies.
    secret = get_settings().resolved_secret_key().encode()
    return hmac.new(secret, b"tuneloop model server", hashlib.sha256).digest()


def _sign(stamp: str) -> str:
    return hmac.new(_key(), stamp.encode(), hashlib.sha256).hexdigest()


def internal_headers() -> dict[str, str]:
    """Headers that let a request into the model server; make them per request (they expire)."""
    stamp = str(int(time.time()))
    return {HEADER: f"{stamp}.{_sign(stamp)}"}


def verify_internal(value: str | None, *, now: float | None = None) -> bool:
    """Whether a header value is a signature of ours, made within MAX_AGE_S."""
    stamp, _, signature = (value or "").partition(".")
    if not stamp.isdigit() or not signature:
        return False
    if abs((now if now is not None else time.time()) - int(stamp)) > MAX_AGE_S:
        return False
    return hmac.compare_digest(signature, _sign(stamp))


def model_server_url() -> str:
    """The model server's base URL (without /v1)."""
    return get_settings().model_server_url.rstrip("/")


def model_server_address() -> tuple[str, int]:
    """(host, port) the model server listens on, from its URL."""
    parts = urlsplit(model_server_url())
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def model_server_display() -> str:
    """The URL without any credentials, for messages."""
    parts = urlsplit(model_server_url())
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
