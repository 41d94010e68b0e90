"""PostgreSQL's fast path for JSON files: the server encodes the texts, COPY streams them, Python joins bytes.

Python's share of a generic export is building a dict per row and encoding it; at a million rows that is
most of the time. Here PostgreSQL writes the JSON itself (`to_json(text)` escapes exactly as orjson does,
byte for byte: same characters escaped, same `\\uXXXX` spelling, UTF-8 kept as is), so a snapshot made this
way is byte-identical to one made by the generic path (tests/exports/test_pg_stream.py holds that for every
format and style). The SFT formats arrive as whole lines; for preference and KTO the server sends each
instruction's prompt, final response and candidates already encoded, and the pairs are joined here as bytes
(the pair logic stays in one place, Python, like the generic path's `formats.py`).

Rows come through `COPY (...) TO STDOUT` in text format. Encoded JSON holds no raw tab, newline or control
character (all are escaped), so the only COPY escaping left in a row is the doubled backslash, undone with
one `replace`; \x01 and \x02 separate the packed candidates for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from select import select as wait_io
from typing import Any

import orjson
import psycopg
from psycopg import pq
from sqlalchemy import Connection, select

from app.exports.formats import FINAL
from app.exports.source import approval_conditions
from app.models import Approval, Instruction

LINE_FORMATS = frozenset({"sft-alpaca", "sft-messages", "sharegpt"})
# One instruction's output: (approval id, instruction id, stored split, encoded rows with their newline).
Unit = tuple[int, int, str, list[bytes]]


def applies(conn: Connection, file_format: str) -> bool:
    """JSON Lines and JSON list files on PostgreSQL; Parquet and datasets folders need the row dicts."""
    return conn.dialect.name == "postgresql" and file_format in ("jsonl", "json")


def _j(expr: str) -> str:
    return f"to_json({expr})::text"


INPUT = "coalesce(x.input, '')"
USER_TEXT = "CASE WHEN x.input <> '' THEN x.instruction || E'\\n\\n' || x.input ELSE x.instruction END"
HAS_HISTORY = "jsonb_array_length(x.history) > 0"
TURNS = "jsonb_array_elements(x.history) WITH ORDINALITY AS h(t, n)"


def _messages(key: str, value: str, roles: dict[str, str]) -> str:
    """System, earlier turns and the user's turn as comma-separated message objects (no brackets)."""
    role_of = "CASE h.t->>'role' " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in roles.items()) + " END"
    turn = (f"'{{\"{key}\":' || to_json({role_of})::text || ',\"{value}\":' || to_json(h.t->>'content')::text"
            " || '}'")
    return (f"CASE WHEN x.system <> '' THEN '{{\"{key}\":\"{roles['system']}\",\"{value}\":' || {_j('x.system')}"
            " || '},' ELSE '' END"
            f" || CASE WHEN {HAS_HISTORY} THEN (SELECT string_agg({turn}, ',' ORDER BY h.n) FROM {TURNS}) || ','"
            " ELSE '' END"
            f" || '{{\"{key}\":\"{roles['user']}\",\"{value}\":' || {_j(USER_TEXT)} || '}}'")


CHAT = {"system": "system", "user": "user", "assistant": "assistant"}
SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}
PROMPT_PLAIN = (f"CASE WHEN x.system = '' AND NOT {HAS_HISTORY} THEN {USER_TEXT} ELSE concat_ws(E'\\n\\n', "
                f"nullif(x.system, ''), (SELECT string_agg(h.t->>'content', E'\\n\\n' ORDER BY h.n) FROM {TURNS}), "
                f"{USER_TEXT}) END")
LINES = {
    "sft-alpaca": (f"'{{\"instruction\":' || {_j('x.instruction')} || ',\"input\":' || {_j(INPUT)}"
                   f" || ',\"output\":' || {_j('x.final_response')} || '}}'"),
    "sft-messages": (f"'{{\"messages\":[' || {_messages('role', 'content', CHAT)}"
                     f" || ',{{\"role\":\"assistant\",\"content\":' || {_j('x.final_response')} || '}}]}}'"),
    "sharegpt": (f"'{{\"conversations\":[' || {_messages('from', 'value', SHAREGPT)}"
                 f" || ',{{\"from\":\"gpt\",\"value\":' || {_j('x.final_response')} || '}}]}}'"),
}
# Every candidate of the instruction as id \x01 encoded text, \x02 between them.
PACKED_CANDIDATES = ("(SELECT string_agg(c.id::text || chr(1) || to_json(c.text)::text, chr(2)) "
                     "FROM candidates c WHERE c.instruction_id = x.instruction_id)")


def _base(project_id: int, options: dict[str, Any]) -> Any:
    cols = [Approval.id.label("approval_id"), Approval.instruction_id, Instruction.split, Instruction.instruction,
            Instruction.input, Instruction.system, Instruction.history, Approval.final_response,
            Approval.final_candidate_id, Approval.ranking, Approval.rejected_candidate_ids, Approval.all_bad]
    return select(*cols).where(*approval_conditions(project_id, options, "postgresql"))


def copy_statement(conn: Connection, project_id: int, options: dict[str, Any], fmt: str,
                   style: str) -> tuple[str, dict[str, Any]]:
    """The COPY statement and its parameters (psycopg binds them client-side: COPY takes no server binds)."""
    compiled = _base(project_id, options).compile(dialect=conn.dialect,
                                                  compile_kwargs={"render_postcompile": True})
    if fmt in LINE_FORMATS:
        out = LINES[fmt]
    else:
        prompt = f"'[' || {_messages('role', 'content', CHAT)} || ']'" if style == "conversational" else \
            _j(PROMPT_PLAIN)
        tiers = "x.ranking::text" if fmt == "preference" else "x.rejected_candidate_ids::text"
        out = (f"x.all_bad::int, coalesce(x.final_candidate_id, 0), {tiers}, {prompt}, {_j('x.final_response')},"
               f" coalesce({PACKED_CANDIDATES}, '')")
    sql = (f"COPY (SELECT x.approval_id, x.instruction_id, x.split, {out} FROM ({compiled}) AS x "
           "ORDER BY x.instruction_id) TO STDOUT")
    return sql, compiled.construct_params()


def iter_units(conn: Connection, project_id: int, options: dict[str, Any], fmt: str, style: str,
               batch: int = 2000) -> Iterator[list[Unit]]:
    """Batches of instructions, in instruction-id order, each with its encoded rows."""
    sql, params = copy_statement(conn, project_id, options, fmt, style)
    build = _line if fmt in LINE_FORMATS else (_preference if fmt == "preference" else _kto)
    conversational = style == "conversational"
    dbapi = conn.connection.dbapi_connection
    # JIT would spend seconds compiling this query's expressions before the first row, and gain nothing.
    dbapi.execute("SET LOCAL jit = off")
    units: list[Unit] = []
    # psycopg starts the COPY and, should we stop early, cancels and drains it; the rows are read below.
    with dbapi.cursor().copy(sql, params):
        for raw in _copy_rows(dbapi.pgconn, dbapi.info.encoding):
            fields = raw[:-1].replace(b"\\\\", b"\\").split(b"\t")  # one data message: one row and its newline
            units.append((int(fields[0]), int(fields[1]), fields[2].decode(), build(fields, conversational)))
            if len(units) >= batch:
                yield units
                units = []
    if units:
        yield units


def _copy_rows(pgconn: Any, encoding: str) -> Iterator[bytes]:
    """COPY OUT data straight from libpq. psycopg's own row iterator costs ~5 us a row in generator plumbing,
    as much as everything else here together; this loop is the same protocol without it. It never blocks in
    libpq (that would hold the GIL and starve the export's heartbeat thread): it waits in select()."""
    get, consume, sock = pgconn.get_copy_data, pgconn.consume_input, pgconn.socket
    while True:
        nbytes, data = get(1)
        if nbytes > 0:
            yield bytes(data)
        elif nbytes == 0:
            wait_io([sock], [], [])
            consume()
        else:
            break
    # The COPY's own result, then the end of the command: the connection is ready for the next query.
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise psycopg.errors.error_from_result(result, encoding=encoding)


def _line(fields: list[bytes], _conversational: bool) -> list[bytes]:
    return [fields[3] + b"\n"]


def _candidates(packed: bytes) -> dict[int, bytes]:
    if not packed:
        return {}
    return {int(cid): text for cid, text in (part.split(b"\x01", 1) for part in packed.split(b"\x02"))}


CHOSEN_CHAT = b',"chosen":[{"role":"assistant","content":'
REJECTED_CHAT = b'}],"rejected":[{"role":"assistant","content":'
COMPLETION_CHAT = b',"completion":[{"role":"assistant","content":'


def _preference(fields: list[bytes], conversational: bool) -> list[bytes]:
    """Every (better, worse) pair across the consensus tiers, as `formats.preference_pairs` orders them."""
    if fields[3] == b"1":
        return []
    cands = _candidates(fields[8])
    final_id = int(fields[4])
    tiers = [sorted(int(c) for c in tier) for tier in orjson.loads(fields[5]) if tier]
    if final_id == 0 and fields[7] != b'""':
        tiers.insert(0, [FINAL])
    texts = [[fields[7] if c == FINAL else cands[c] for c in tier if c == FINAL or c in cands] for tier in tiers]
    head = b'{"prompt":' + fields[6]
    rows = []
    for i, better in enumerate(texts):
        for worse in texts[i + 1:]:
            for chosen in better:
                for rejected in worse:
                    if rejected == chosen:
                        continue
                    if conversational:
                        rows.append(head + CHOSEN_CHAT + chosen + REJECTED_CHAT + rejected + b"}]}\n")
                    else:
                        rows.append(head + b',"chosen":' + chosen + b',"rejected":' + rejected + b"}\n")
    return rows


def _kto(fields: list[bytes], conversational: bool) -> list[bytes]:
    """The final response as desirable (unless judged bad), then each rejected candidate, by id."""
    rejected = [int(c) for c in orjson.loads(fields[5])]
    final_id = int(fields[4]) or None
    cands = _candidates(fields[8])
    completions = [(fields[7], b"true")] if fields[7] != b'""' and final_id not in rejected else []
    completions.extend((cands[c], b"false") for c in sorted(set(rejected)) if c in cands)
    head = b'{"prompt":' + fields[6]
    if conversational:
        return [head + COMPLETION_CHAT + text + b'}],"label":' + label + b"}\n" for text, label in completions]
    return [head + b',"completion":' + text + b',"label":' + label + b"}\n" for text, label in completions]
