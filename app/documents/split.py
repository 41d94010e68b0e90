"""Sections into passages: by heading, then by length, with overlap; every step linear in the text's length.

A section's body is cut into pieces (paragraphs; a paragraph too long is cut at sentence ends; a sentence too
long at the last space, or anywhere for text without spaces), and pieces are packed into passages of at most
`max_chars`. Each passage after the first starts `overlap` characters before the previous one ended (at a word
boundary), so a fact cut in two appears whole in one of them. Offsets are into the document's canonical text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.documents.extract import Extracted, Section

_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f][\"')\]\u201d\u2019]*\s+")
_SPACE = re.compile(r"\s+")


class SplitSettings(BaseModel):
    """How documents are cut into passages; stored on each document and shown on the collection page."""

    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(1200, ge=200, le=20_000, title="Passage length",
                           description="Longest passage, in characters.")
    overlap: int = Field(150, ge=0, le=5_000, title="Overlap",
                         description="Characters a passage repeats from the end of the one before.")
    by_heading: bool = Field(True, title="Split at headings",
                             description="Start a new passage at every heading (Markdown, HTML).")

    @model_validator(mode="after")
    def _overlap_below_length(self) -> SplitSettings:
        if self.overlap * 2 > self.max_chars:
            raise ValueError("overlap must be at most half the passage length")
        return self


@dataclass(frozen=True)
class Chunk:
    position: int
    heading: str
    text: str
    start: int  # offsets into the document's canonical text
    end: int


def split(doc: Extracted, settings: SplitSettings) -> list[Chunk]:
    """The document's passages in order."""
    sections = doc.sections if settings.by_heading else [_merged(doc.sections)]
    chunks: list[Chunk] = []
    base = 0
    for section in sections:
        offset = base + (len(f"# {section.heading}\n\n") if section.heading and settings.by_heading else 0)
        for start, end in _spans(section.body, settings.max_chars, settings.overlap):
            text = _tidy(section.body[start:end])
            if text:
                chunks.append(Chunk(len(chunks), section.heading, text, offset + start, offset + end))
        base += len(f"# {section.heading}\n\n" if section.heading else "") + len(section.body) + 2
    return chunks


def _merged(sections: list[Section]) -> Section:
    body = "\n\n".join((f"{s.heading}\n\n" if s.heading else "") + s.body for s in sections)
    return Section(sections[0].heading if sections else "", body)


def passage_key(content_hash: str, chunk: Chunk) -> str:
    """A stable id: the same document text split the same way gives the same keys, in any project."""
    digest = hashlib.sha256(f"{content_hash}\0{chunk.position}\0{chunk.text}".encode()).hexdigest()
    return f"p{digest[:23]}"


def _tidy(text: str) -> str:
    """Paragraph breaks kept as one blank line; every other run of whitespace one space."""
    parts = (" ".join(part.split()) for part in _BREAK.split(text))
    return "\n\n".join(part for part in parts if part)


def _paragraphs(body: str) -> Iterator[tuple[int, int]]:
    """Spans of the blank-line separated paragraphs, without their surrounding whitespace."""
    start = 0
    for match in _BREAK.finditer(body):
        yield from _trimmed(body, start, match.start())
        start = match.end()
    yield from _trimmed(body, start, len(body))


def _trimmed(body: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    part = body[start:end]
    stripped = part.strip()
    if stripped:
        start += len(part) - len(part.lstrip())
        yield start, start + len(stripped)


def _pieces(body: str, limit: int) -> Iterator[tuple[int, int]]:
    """Spans of at most `limit` characters: paragraphs, else sentences, else cuts at spaces or anywhere."""
    for start, end in _paragraphs(body):
        if end - start <= limit:
            yield start, end
            continue
        yield from _sentences(body, start, end, limit)


def _sentences(body: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    cursor = start
    for match in _SENTENCE_END.finditer(body, start, end):
        stop = match.start() + len(match.group().rstrip())
        if stop - cursor > limit:
            yield from _hard(body, cursor, stop, limit)
        else:
            yield cursor, stop
        cursor = match.end()
    if cursor < end:
        yield from _hard(body, cursor, end, limit)


def _hard(body: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """A run longer than `limit`: cut at the last whitespace in each window, or at the limit if there is none."""
    cursor = start
    while end - cursor > limit:
        window = body.rfind(" ", cursor + limit // 2, cursor + limit)
        cut = window if window > cursor else cursor + limit
        yield cursor, cut
        cursor = cut
        while cursor < end and body[cursor].isspace():
            cursor += 1
    if cursor < end:
        yield cursor, end


def _spans(body: str, limit: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Pack pieces into passages of at most `limit` characters, each but the first reaching back `overlap`."""
    pieces = list(_pieces(body, limit))
    i = 0
    start = pieces[0][0] if pieces else 0
    while i < len(pieces):
        end = pieces[i][1]
        i += 1
        while i < len(pieces) and pieces[i][1] - start <= limit:
            end = pieces[i][1]
            i += 1
        yield start, end
        if i >= len(pieces):
            return
        start = _overlap_start(body, end, overlap, limit, pieces[i])


def _overlap_start(body: str, end: int, overlap: int, limit: int, following: tuple[int, int]) -> int:
    """Where the next passage starts: a word boundary about `overlap` before `end`, unless the next piece
    would then not fit (a passage must always take at least one new piece)."""
    if overlap <= 0:
        return following[0]
    space = _SPACE.search(body, max(0, end - overlap), end)
    if space is None or space.end() >= end:
        return following[0]
    start = space.end()
    return start if following[1] - start <= limit else following[0]
