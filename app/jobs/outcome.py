"""What handling one item came to: done with an output, rejected with a reason code, or failed with an error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.models import ItemStatus

REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Outcome:
    status: ItemStatus
    output: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    error: str | None = None

    @classmethod
    def done(cls, output: dict[str, Any] | None = None) -> Outcome:
        return cls(ItemStatus.done, output or {})

    @classmethod
    def rejected(cls, reason: str, output: dict[str, Any] | None = None) -> Outcome:
        """Refused by a filter; `reason` is a stable lowercase word the page counts and filters by."""
        if not REASON_CODE.match(reason):
            raise ValueError(f"reason codes are lowercase words (a-z, 0-9, _): {reason!r}")
        return cls(ItemStatus.rejected, output or {}, reason=reason)

    @classmethod
    def failed(cls, error: str, output: dict[str, Any] | None = None) -> Outcome:
        return cls(ItemStatus.failed, output or {}, error=error)
