"""Rule-based quality filters, with LIMA's community Q&A rules as a preset (Zhou et al. 2023, section 2.1).

LIMA kept Stack Exchange answers with a score of at least 10, between 1,200 and 4,096 characters, not written
in the first person and not referring to other answers, after stripping links, images and other HTML while
keeping code blocks and lists. Each rule that refuses an item names itself with a stable reason code.
Pure: no database, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import nh3
from pydantic import BaseModel, ConfigDict, Field

Preset = Literal["lima", "none"]
KEPT_TAGS = {"pre", "code", "ul", "ol", "li"}
FENCE = re.compile(r"(```.*?```|~~~.*?~~~)", re.DOTALL)
MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)")
MD_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
MD_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
BARE_URL = re.compile(r"<?https?://[^\s)>\]]+>?")
FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|me|my|mine|myself)\b|\b(?:My|Me|Mine|Myself)\b")
OTHER_ANSWERS = re.compile(
    r"\b(?:as (?:others? have|mentioned|noted|stated|said)(?: (?:above|below|before|earlier))?|"
    r"(?:other|another|previous|above|below|accepted|top|first) (?:answer|answers|response|responses|poster)|"
    r"this answer|stack ?exchange|stack ?overflow|upvote|downvote|\bedit\s*:)", re.IGNORECASE)


class QualityRules(BaseModel):
    """Which rules apply; a preset fills in the rest (fields given explicitly win)."""

    model_config = ConfigDict(extra="forbid")

    preset: Preset = Field("lima", description="lima: LIMA's community Q&A rules; none: only the rules set here.")
    min_score: float | None = Field(None, ge=-1e9, le=1e9, description="Lowest answer score kept (LIMA: 10); "
                                    "the score is the response candidate's, else the instruction's metadata 'score'.")
    min_chars: int | None = Field(None, ge=0, le=1_000_000, description="Shortest response kept, after stripping "
                                  "(LIMA: 1200).")
    max_chars: int | None = Field(None, ge=1, le=10_000_000, description="Longest response kept (LIMA: 4096).")
    no_first_person: bool | None = Field(None, description="Refuse responses written in the first person.")
    no_references: bool | None = Field(None, description="Refuse responses that refer to other answers.")
    strip_markup: bool | None = Field(None, description="Strip links, images and HTML, keeping code blocks and "
                                                        "lists, before the length rules.")

    def resolved(self) -> QualityRules:
        base = LIMA if self.preset == "lima" else NONE
        given = self.model_dump(exclude_unset=True, exclude={"preset"})
        return base.model_copy(update={**{k: v for k, v in given.items() if v is not None}, "preset": self.preset})


LIMA = QualityRules.model_construct(preset="lima", min_score=10.0, min_chars=1200, max_chars=4096,
                                    no_first_person=True, no_references=True, strip_markup=True)
NONE = QualityRules.model_construct(preset="none", min_score=None, min_chars=None, max_chars=None,
                                    no_first_person=False, no_references=False, strip_markup=False)


@dataclass(frozen=True)
class RuleVerdict:
    passed: bool
    reason: str | None  # too_short | too_long | low_score | no_score | first_person | references_other_answers |
    # no_response
    text: str  # the response after stripping (or as it was)
    detail: str = ""


def strip_markup(text: str) -> str:
    """Links become their text; images, bare URLs and HTML tags go; code blocks and lists stay as they are."""
    parts = FENCE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:  # a fenced code block: untouched
            out.append(part)
            continue
        part = MD_IMAGE.sub("", part)
        part = MD_LINK.sub(r"\1", part)
        part = MD_REF_LINK.sub(r"\1", part)
        part = MD_REF_DEF.sub("", part)
        part = nh3.clean(part, tags=KEPT_TAGS, attributes={}, strip_comments=True)
        part = BARE_URL.sub("", part)
        # nh3 escapes what it keeps as text; the response is plain text again.
        part = part.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&#39;", "'") \
            .replace("&amp;", "&")
        out.append(re.sub(r"[ \t]+\n", "\n", part))
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


def check(rules: QualityRules, response: str | None, score: float | None) -> RuleVerdict:
    """The first rule the response breaks, in LIMA's order, or a pass with the stripped text."""
    rules = rules.resolved()
    if response is None or not response.strip():
        return RuleVerdict(False, "no_response", response or "", "no response text to judge")
    if rules.min_score is not None:
        if score is None:
            return RuleVerdict(False, "no_score", response, "the response has no score")
        if score < rules.min_score:
            return RuleVerdict(False, "low_score", response, f"score {score:g} < {rules.min_score:g}")
    text = strip_markup(response) if rules.strip_markup else response
    if rules.min_chars is not None and len(text) < rules.min_chars:
        return RuleVerdict(False, "too_short", text, f"{len(text)} characters < {rules.min_chars}")
    if rules.max_chars is not None and len(text) > rules.max_chars:
        return RuleVerdict(False, "too_long", text, f"{len(text)} characters > {rules.max_chars}")
    prose = FENCE.sub(" ", text)  # code may say "my_var" or print("I")
    if rules.no_first_person and (hit := FIRST_PERSON.search(prose)):
        return RuleVerdict(False, "first_person", text, f"'{hit.group(0)}'")
    if rules.no_references and (hit := OTHER_ANSWERS.search(prose)):
        return RuleVerdict(False, "references_other_answers", text, f"'{hit.group(0)}'")
    return RuleVerdict(True, None, text)
