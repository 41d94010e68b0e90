"""`python -m worker.training ...` as a child process in its own group, read as JSON-line events."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
logger = logging.getLogger("tuneloop.worker")


def _die_with_parent() -> None:
    # A trainer whose worker died would train on unobserved, holding the GPU while the reaper fails its run
    # and a resume starts a second trainer on the same folder: have the kernel kill it with its parent.
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def trainer_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def trainer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "worker.training", *args]


class TrainerProcess:
    """One trainer subprocess: stdout carries events, stderr goes to the run's log file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                trainer_command(*args), stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                cwd=ROOT, env=trainer_env(), start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self, tick_s: float = 1.0) -> Iterator[dict[str, Any] | None]:
        """Yield each event as it arrives, and None every `tick_s` of silence so the caller can flush."""
        fd = self.proc.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        buffer = b""
        try:
            while True:
                if not selector.select(tick_s):
                    yield None
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = self._parse(line)
                    if event is not None:
                        yield event
            if buffer.strip():
                event = self._parse(buffer)
                if event is not None:
                    yield event
        finally:
            selector.close()

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            return None
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            # Stray prints from libraries: keep them in the log, not in the event stream.
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(text + "\n")
            return None
        return event

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group: dataloader workers and torchrun children too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def wait(self) -> int:
        return self.proc.wait()

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])
