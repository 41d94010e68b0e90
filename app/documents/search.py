"""Full-text search over a project's passages: FTS5 with BM25 on SQLite, tsvector with ts_rank on PostgreSQL.

Both indexes are kept in step by the database (triggers, a generated column), so a passage is searchable in
the same transaction that stored it and gone in the one that deleted it. The user's words are passed as
terms, never as query syntax: a quote or an operator in the search box cannot break the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32
PG_RANK_CAP = 2000


@dataclass
class Hit:
    passage_id: int
    document_id: int
    document: str
    position: int
    heading: str
    text: str
    rank: float

    def snippet(self, query: str, width: int = 320) -> list[tuple[str, bool]]:
        """A window of the text around the first matching word, as (text, is_match) parts to escape and mark."""
        return snippet(self.text, query, width)

    def as_json(self) -> dict[str, object]:
        return {"passage_id": self.passage_id, "document_id": self.document_id, "document": self.document,
                "position": self.position, "heading": self.heading, "text": self.text, "rank": self.rank}


def terms(query: str) -> list[str]:
    return _WORD.findall(query)[:MAX_TERMS]


def search(session: Session, project_id: int, query: str, *, limit: int = 20,
           document_ids: list[int] | None = None) -> list[Hit]:
    """The best-matching passages for every word of `query` (all of them must occur), best first."""
    words = terms(query)
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = _postgres(session, project_id, " ".join(words), limit, document_ids)
    else:
        rows = _sqlite(session, project_id, words, limit, document_ids)
    return [Hit(*row) for row in rows]


def _among(document_ids: list[int] | None) -> tuple[str, dict[str, int]]:
    if not document_ids:
        return "", {}
    names = {f"d{i}": int(d) for i, d in enumerate(document_ids[:1000])}
    return f" AND p.document_id IN ({', '.join(':' + n for n in names)})", names


def _sqlite(session: Session, project_id: int, words: list[str], limit: int, document_ids: list[int] | None):
    # Each word quoted: FTS5 reads it as a plain term (an implicit AND between them), never as syntax.
    match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
    among, params = _among(document_ids)
    sql = text("SELECT p.id, p.document_id, d.name, p.position, p.heading, p.text, bm25(passages_fts) AS rank "
               "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
               "JOIN documents d ON d.id = p.document_id "
               f"WHERE passages_fts MATCH :match AND p.project_id = :project{among} ORDER BY rank LIMIT :limit")
    rows = session.execute(sql, {"match": match, "project": project_id, "limit": limit, **params}).all()
    return [(*r[:6], -float(r[6])) for r in rows]  # bm25 is lower-is-better; report higher-is-better


def _postgres(session: Session, project_id: int, words: str, limit: int, document_ids: list[int] | None):
    among, params = _among(document_ids)
    # Ranking reads every candidate's tsvector: a word found in most of a million passages would cost a second.
    # So at most PG_RANK_CAP matches (in storage order) are ranked: narrow queries rank every match, a very
    # common word ranks a sample of them (see BENCHMARKS.md, "Documents").
    sql = text("SELECT p.id, p.document_id, d.name, p.position, p.heading, p.text, "
               "ts_rank_cd(p.search_vector, q) AS rank "
               "FROM (SELECT * FROM passages p, plainto_tsquery('english', :words) q "
               f"      WHERE p.search_vector @@ q AND p.project_id = :project{among} LIMIT :cap) p "
               "JOIN documents d ON d.id = p.document_id "
               "ORDER BY rank DESC, p.id LIMIT :limit")
    rows = session.execute(sql, {"words": words, "project": project_id, "limit": limit, "cap": PG_RANK_CAP,
                                 **params}).all()
    return [(*r[:6], float(r[6])) for r in rows]


def snippet(body: str, query: str, width: int = 320) -> list[tuple[str, bool]]:
    words = {w.lower() for w in terms(query)}
    stems = tuple(w[:max(3, len(w) - 2)] for w in words)  # "cats" finds "cat", as both indexes stem
    found = next((m for m in _WORD.finditer(body) if m.group().lower().startswith(stems)), None) if stems else None
    start = max(0, (found.start() if found else 0) - width // 3)
    window = body[start:start + width]
    parts: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = 0
    for m in _WORD.finditer(window):
        if stems and m.group().lower().startswith(stems):
            parts += [(window[cursor:m.start()], False), (m.group(), True)]
            cursor = m.end()
    parts.append((window[cursor:], False))
    if start + width < len(body):
        parts.append(("…", False))
    return parts


def passage_ids(session: Session, project_id: int, query: str | None = None, document_ids: list[int] | None = None,
                *, limit: int | None = None) -> list[int]:
    """Ids of the project's passages (those matching `query`, of `document_ids`), in document order."""
    from sqlalchemy import select

    from app.models import Passage

    stmt = select(Passage.id).where(Passage.project_id == project_id)
    if document_ids:
        stmt = stmt.where(Passage.document_id.in_(document_ids))
    words = terms(query or "")
    if words:
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.where(text("passages.search_vector @@ plainto_tsquery('english', :words)")
                              .bindparams(words=" ".join(words)))
        else:
            match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
            stmt = stmt.where(Passage.id.in_(text("SELECT rowid FROM passages_fts WHERE passages_fts MATCH :match")
                                             .bindparams(match=match)))
    elif (query or "").strip():
        return []  # a filter with no word in it matches nothing, rather than everything
    stmt = stmt.order_by(Passage.document_id, Passage.position)
    return list(session.scalars(stmt.limit(limit) if limit else stmt))
