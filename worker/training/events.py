"""Progress events: one JSON object per line on stdout (rank 0 only), mirrored to the run's event log."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed); torchrun and accelerate both set RANK."""
    return int(os.environ.get("RANK", "0")) == 0


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: report them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class Emitter:
    """Writes events to stdout and appends them to a log file; silent on ranks other than 0."""

    def __init__(self, stream: TextIO | None = None, log_path: Path | None = None) -> None:
        self.stream = stream or sys.stdout
        self.log_path = log_path
        self.enabled = is_main_process()

    def set_log(self, log_path: Path) -> None:
        """Start mirroring events into log_path (the run's events.jsonl)."""
        self.log_path = log_path

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Emit one event; returns the object written."""
        record = _clean({"event": event, "time": round(time.time(), 3), **fields})
        if not self.enabled:
            return record
        line = json.dumps(record, ensure_ascii=False)
        self.stream.write(line + "\n")
        self.stream.flush()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        return record


def log(message: str) -> None:
    """A human log line, on stderr (stdout carries only events)."""
    if is_main_process():
        print(message, file=sys.stderr, flush=True)
