"""Bounds for the numbers requests carry: out of range is a 422 naming the field, never an overflow.

A Python int has no limit, but a database column, orjson and the trainer do: 2**70 as a seed once reached
the JSON encoder and answered 500. Every numeric field of a form or body takes one of these types, or
bounds of its own that lie inside them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

MAX_ID = 2**63 - 1  # the largest value of a 64-bit id column
MAX_SEED = 2**32 - 1  # what numpy and torch seeds take
MAX_STEPS = 100_000_000  # steps, step intervals, counts a run or job may ask for

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]  # a row id in a URL path
Id = Annotated[int, Field(ge=1, le=MAX_ID)]  # a row id in a body, form or query
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
