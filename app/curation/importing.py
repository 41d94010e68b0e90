"""Quality rules applied while importing: a row that breaks a rule is not stored, a kept row's response is stored
stripped of links, images and HTML (code blocks and lists stay), and every row's verdict is recorded as an item of
a quality-filter job, so the rejections are counted and listed by reason code like any job's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.curation.rules import QualityRules, check
from app.jobs.context import JobContext, add_event
from app.jobs.outcome import Outcome
from app.models import Job, JobStatus, Project, User
from app.models.base import utcnow


def _response(item: dict[str, Any]) -> tuple[int | None, str | None, float | None]:
    """(index of the candidate judged, its text, its score): the best-scored candidate, else the first."""
    candidates = item.get("candidates") or []
    if not candidates:
        return None, None, None
    scored = [(k, c) for k, c in enumerate(candidates) if isinstance(c.get("score"), int | float)]
    index, chosen = max(scored, key=lambda kc: kc[1]["score"]) if scored else (0, candidates[0])
    score = chosen.get("score")
    if score is None and isinstance((item.get("metadata") or {}).get("score"), int | float):
        score = item["metadata"]["score"]
    return index, chosen.get("text"), score


@dataclass
class ImportRules:
    rules: QualityRules
    verdicts: list[tuple[dict[str, Any], Outcome]] = field(default_factory=list)

    def apply(self, line: int, item: dict[str, Any]) -> dict[str, Any] | None:
        """The item to store (its response stripped), or None when a rule refuses it."""
        index, text, score = _response(item)
        verdict = check(self.rules, text, score)
        record = {"line": line, "text": str(item.get("instruction", ""))[:300]}
        detail = {"line": line, "chars": len(verdict.text), "detail": verdict.detail}
        if not verdict.passed:
            self.verdicts.append((record, Outcome.rejected(verdict.reason or "refused", detail)))
            return None
        if index is not None and self.rules.resolved().strip_markup:
            item = {**item, "candidates": [dict(c) for c in item["candidates"]]}
            item["candidates"][index]["text"] = verdict.text
        self.verdicts.append((record, Outcome.done(detail)))
        return item

    def record(self, session: Session, *, project: Project, source: str, user: User | None = None) -> Job:
        """The import's verdicts as a finished quality-filter job (its page lists the rejections by reason)."""
        now = utcnow()
        job = Job(project_id=project.id, kind="quality-filter", status=JobStatus.succeeded, planned=True,
                  params={"rules": self.rules.model_dump(mode="json"), "filter": {}}, backends=[],
                  created_by_id=user.id if user else None, started_at=now, finished_at=now, attempts=1)
        session.add(job)
        session.flush()
        ctx = JobContext(session, job, None)
        ctx.add_items("rule", [r for r, _ in self.verdicts], outcomes=[o for _, o in self.verdicts])
        job.result = {"import": source, "checked": job.items_total, "passed": job.items_done,
                      "refused": job.items_rejected, "preset": self.rules.preset,
                      "rules": self.rules.resolved().model_dump()}
        add_event(session, job.id, "import", f"Quality rules applied while importing {source}: "
                  f"{job.items_done} kept, {job.items_rejected} refused.")
        return job


def parse_rules(text: str) -> QualityRules:
    """'lima', 'none', or a JSON object of rules; ValueError says what is wrong."""
    import json

    from pydantic import ValidationError

    value = text.strip()
    if value in ("lima", "none"):
        return QualityRules(preset=value)
    try:
        return QualityRules.model_validate(json.loads(value))
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"give 'lima', 'none' or a JSON object of rules ({exc})".replace("\n", " ")) from exc
