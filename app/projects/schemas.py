"""Project request and response bodies; settings are validated and merged over the defaults."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

# SQLite hands back naive datetimes; every stored time is UTC, so say so (RFC 3339 needs the offset).
UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

Slug = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Guidelines = Annotated[str, StringConstraints(max_length=200_000)]


class AutoApprove(BaseModel):
    """Approve an instruction without review once enough annotators agree on the best candidate."""

    model_config = ConfigDict(extra="forbid")
    min_annotations: int = Field(ge=1, le=20)
    min_top1_agreement: float = Field(ge=0, le=1)


class SettingsIn(BaseModel):
    """Annotation settings; every key is optional and merged over the project's current values."""

    model_config = ConfigDict(extra="forbid")
    min_submitted: int | None = Field(None, ge=1, le=20, description="Annotators per instruction (overlap).")
    rating_scale: Literal["1-5", "A-D", "1-10"] | None = None
    require_ranking: bool | None = None
    exclude_holdout: bool | None = None
    hide_others: bool | None = None
    reservation_minutes: int | None = Field(None, ge=1, le=24 * 60)
    auto_approve: AutoApprove | None = Field(None, description="null turns auto-approval off.")


def _check_slug(value: str | None) -> str | None:
    if value is not None and not SLUG_RE.match(value):
        raise ValueError("use lowercase letters, digits and single hyphens, e.g. 'support-bot-v2'")
    return value


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    slug: Slug | None = Field(None, description="Derived from the name when absent.")
    guidelines: Guidelines = ""
    settings: SettingsIn | None = None

    _slug = field_validator("slug")(_check_slug)


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    guidelines: Guidelines | None = None
    settings: SettingsIn | None = None


class ProjectOut(BaseModel):
    id: int
    name: str
    slug: str
    guidelines: str
    settings: dict
    counts: dict[str, int] = Field(description="Instructions by status, plus 'total'.")
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProjectList(BaseModel):
    items: list[ProjectOut]
