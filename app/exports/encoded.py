"""JSON files encoded by the database: SQL writes each text's JSON, Python only joins and writes bytes.

Python's share of a generic export is building a dict per row and encoding it; at a million rows that is
most of the time. Here the database writes the JSON itself: PostgreSQL's `to_json(text)` and SQLite's
`json_quote(text)` escape exactly as orjson does, byte for byte (same characters escaped, same `\\u` escape
spelling, UTF-8 kept as is), so the files are byte-identical to the generic path's
(tests/exports/test_encoded.py holds that for every format and style, on both databases). The SFT formats
arrive as whole lines; for preference and KTO the database sends each instruction's prompt, final response
and candidates already encoded, and the pairs are joined here as bytes (the pair logic stays in Python,
like the generic path's `formats.py`).

PostgreSQL streams through `COPY (...) TO STDOUT` read straight from libpq; SQLite through its lazily
stepped cursor, a row's fields joined by tabs in SQL. Encoded JSON holds no raw tab, newline or control
character (all are escaped), so tabs can separate fields and \\x02 and \\x03 the packed candidates. COPY
uses the CSV format with \\x01 as its quote character: then no value ever needs quoting or escaping
(the text format would double every backslash), and rows arrive exactly as SQL built them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from select import select as wait_io
from typing import Any

import orjson
import psycopg
from psycopg import pq
from sqlalchemy import Connection, literal_column, select

from app.exports.source import approval_conditions
from app.models import Approval, Instruction

LINE_FORMATS = frozenset({"sft-alpaca", "sft-messages", "sharegpt"})
# The formats the database encodes; the others (txtinstruct, ranking) are built row by row in Python.
SQL_FORMATS = LINE_FORMATS | {"preference", "kto"}
# One instruction's output: (approval id, instruction id, stored split, its encoded rows, without newlines).
Unit = tuple[int, int, str, list[bytes]]
Q = '"'  # a JSON double quote inside the SQL string literals below


def applies(conn: Connection, file_format: str) -> bool:
    """JSON Lines and JSON list files; Parquet and datasets folders need the row dicts."""
    return conn.dialect.name in ("postgresql", "sqlite") and file_format in ("jsonl", "json")


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ between the two databases."""

    quote: str  # {} as a JSON string literal
    turns: str  # the history's turns as rows, aliased h
    field: str  # the field {name} of turn h
    agg: str  # {expr} over the turns, in order, joined by {sep}
    blank_line: str  # what separates prompt parts
    packed: str  # every candidate as id \x02 encoded text, \x03 between them
    has_history: str
    as_int: str  # boolean column {} as 0/1
    json_text: str  # JSON column {} as its text


PG = Dialect(
    quote="to_json({})::text", turns="jsonb_array_elements(x.history) WITH ORDINALITY AS h(t, n)",
    field="h.t->>'{name}'", agg="(SELECT string_agg({expr}, {sep} ORDER BY h.n) FROM {turns})",
    blank_line="E'\\n\\n'",
    packed=("(SELECT string_agg(c.id::text || chr(2) || to_json(c.text)::text, chr(3)) FROM candidates c "
            "WHERE c.instruction_id = x.instruction_id)"),
    has_history="jsonb_array_length(x.history) > 0", as_int="{}::int", json_text="{}::text")
SQLITE = Dialect(
    quote="json_quote({})", turns="json_each(x.history) AS h", field="json_extract(h.value, '$.{name}')",
    # group_concat keeps the order of the rows it reads (SQLite before 3.44 has no ORDER BY inside it).
    agg="(SELECT group_concat(e, {sep}) FROM (SELECT {expr} AS e FROM {turns} ORDER BY h.key))",
    blank_line="char(10, 10)",
    packed=("(SELECT group_concat(c.id || char(2) || json_quote(c.text), char(3)) FROM candidates c "
            "WHERE c.instruction_id = x.instruction_id)"),
    has_history="json_array_length(x.history) > 0", as_int="{}", json_text="{}")
CHAT = {"system": "system", "user": "user", "assistant": "assistant"}
SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}


def _lit(text: str) -> str:
    """A SQL string literal of JSON punctuation (never holds a quote of its own)."""
    return "'" + text + "'"


class _Sql:
    """One dialect's SQL expressions over the base query, aliased x."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.user_text = (f"CASE WHEN x.input <> '' THEN x.instruction || {d.blank_line} || x.input "
                          "ELSE x.instruction END")

    def j(self, expr: str) -> str:
        return self.d.quote.format(expr)

    def obj(self, key: str, key_value: str, value: str, text_sql: str) -> str:
        """{"key":"key_value","value":<text_sql as JSON>} (key_value a constant)."""
        return (_lit("{" + Q + key + Q + ":" + Q + key_value + Q + "," + Q + value + Q + ":") + " || "
                + self.j(text_sql) + " || '}'")

    def messages(self, key: str, value: str, roles: dict[str, str]) -> str:
        """System, earlier turns and the user's turn as comma-separated message objects (no brackets)."""
        d = self.d
        role_of = ("CASE " + d.field.format(name="role") + " "
                   + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in roles.items()) + " END")
        turn = (_lit("{" + Q + key + Q + ":") + " || " + self.j(role_of) + " || "
                + _lit("," + Q + value + Q + ":") + " || " + self.j(d.field.format(name="content")) + " || '}'")
        history = d.agg.format(expr=turn, sep="','", turns=d.turns)
        return (f"CASE WHEN x.system <> '' THEN {self.obj(key, roles['system'], value, 'x.system')} || ',' "
                "ELSE '' END"
                f" || CASE WHEN {d.has_history} THEN {history} || ',' ELSE '' END"
                f" || {self.obj(key, roles['user'], value, self.user_text)}")

    def prompt_plain(self) -> str:
        d = self.d
        history = d.agg.format(expr=d.field.format(name="content"), sep=d.blank_line, turns=d.turns)
        return (f"CASE WHEN x.system = '' AND NOT ({d.has_history}) THEN {self.user_text} ELSE "
                f"coalesce(nullif(x.system, '') || {d.blank_line}, '') || coalesce({history} || {d.blank_line}, '')"
                f" || {self.user_text} END")

    def line(self, fmt: str) -> str:
        if fmt == "sft-alpaca":
            return (_lit("{" + Q + "instruction" + Q + ":") + " || " + self.j("x.instruction") + " || "
                    + _lit("," + Q + "input" + Q + ":") + " || " + self.j("coalesce(x.input, '')") + " || "
                    + _lit("," + Q + "output" + Q + ":") + " || " + self.j("x.final_response") + " || '}'")
        chat = fmt == "sft-messages"
        key, value, name = ("role", "content", "messages") if chat else ("from", "value", "conversations")
        roles = CHAT if chat else SHAREGPT
        return (_lit("{" + Q + name + Q + ":[") + " || " + self.messages(key, value, roles) + " || ',' || "
                + self.obj(key, roles["assistant"], value, "x.final_response") + " || ']}'")

    def pieces(self, fmt: str, style: str) -> list[str]:
        d = self.d
        prompt = ("'[' || " + self.messages("role", "content", CHAT) + " || ']'" if style == "conversational"
                  else self.j(self.prompt_plain()))
        tiers = d.json_text.format("x.ranking" if fmt == "preference" else "x.rejected_candidate_ids")
        # No candidates: NULL, which COPY's CSV sends as an empty field; SQLite joins fields with ||, where
        # NULL would blank the whole row.
        packed = d.packed if d is PG else f"coalesce({d.packed}, '')"
        return [d.as_int.format("x.all_bad"), "coalesce(x.final_candidate_id, 0)", tiers, prompt,
                self.j("x.final_response"), packed]


def _base(project_id: int, options: dict[str, Any], dialect: str) -> Any:
    cols = [Approval.id.label("approval_id"), Approval.instruction_id, Instruction.split, Instruction.instruction,
            Instruction.input, Instruction.system, Instruction.history, Approval.final_response,
            Approval.final_candidate_id, Approval.ranking, Approval.rejected_candidate_ids, Approval.all_bad]
    return select(*cols).where(*approval_conditions(project_id, options, dialect))


def _columns(dialect: str, fmt: str, style: str) -> list[str]:
    sql = _Sql(PG if dialect == "postgresql" else SQLITE)
    head = ["x.approval_id", "x.instruction_id", "x.split"]
    return head + ([sql.line(fmt)] if fmt in LINE_FORMATS else sql.pieces(fmt, style))


def copy_statement(conn: Connection, project_id: int, options: dict[str, Any], fmt: str,
                   style: str) -> tuple[str, dict[str, Any]]:
    """PostgreSQL's COPY and its parameters (psycopg binds them client-side: COPY takes no server binds)."""
    compiled = _base(project_id, options, "postgresql").compile(dialect=conn.dialect,
                                                                compile_kwargs={"render_postcompile": True})
    cols = ", ".join(_columns("postgresql", fmt, style))
    sql = (f"COPY (SELECT {cols} FROM ({compiled}) AS x ORDER BY x.instruction_id) TO STDOUT "
           "WITH (FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01')")
    return sql, compiled.construct_params()


@dataclass(slots=True)
class Lines:
    """A batch of the line formats: one row per instruction, as parallel lists of raw fields."""

    approval_ids: list[bytes]  # decimal
    instruction_ids: list[bytes]  # decimal
    splits: list[bytes]
    lines: list[bytes]  # without their newline


def iter_lines(conn: Connection, project_id: int, options: dict[str, Any], fmt: str,
               batch: int = 4000) -> Iterator[Lines]:
    """The SFT formats, in instruction-id order, a batch of rows at a time."""
    pg = conn.dialect.name == "postgresql"
    rows = _pg_rows(conn, project_id, options, fmt, "plain") if pg else \
        _sqlite_rows(conn, project_id, options, fmt, "plain")
    while True:
        part = Lines([], [], [], [])
        aids, iids, splits, lines = part.approval_ids.append, part.instruction_ids.append, part.splits.append, \
            part.lines.append
        for fields in rows:
            aids(fields[0])
            iids(fields[1])
            splits(fields[2])
            lines(fields[3])
            if len(part.lines) >= batch:
                break
        if not part.lines:
            return
        yield part


def iter_units(conn: Connection, project_id: int, options: dict[str, Any], fmt: str, style: str,
               batch: int = 2000) -> Iterator[list[Unit]]:
    """Preference and KTO: batches of instructions, in instruction-id order, each with its encoded rows."""
    build = _preference if fmt == "preference" else _kto
    conversational = style == "conversational"
    if conn.dialect.name == "postgresql":
        rows = _pg_rows(conn, project_id, options, fmt, style)
    else:
        rows = _sqlite_rows(conn, project_id, options, fmt, style)
    units: list[Unit] = []
    for fields in rows:
        units.append((int(fields[0]), int(fields[1]), fields[2].decode(), build(fields, conversational)))
        if len(units) >= batch:
            yield units
            units = []
    if units:
        yield units


def _pg_rows(conn: Connection, project_id: int, options: dict[str, Any], fmt: str,
             style: str) -> Iterator[list[bytes]]:
    sql, params = copy_statement(conn, project_id, options, fmt, style)
    dbapi = conn.connection.dbapi_connection
    # JIT would spend seconds compiling this query's expressions before the first row, and gain nothing.
    dbapi.execute("SET LOCAL jit = off")
    # psycopg starts the COPY and, should we stop early, cancels and drains it; the rows are read below.
    with dbapi.cursor().copy(sql, params):
        for raw in _copy_rows(dbapi.pgconn, dbapi.info.encoding):
            # One data message is one row and its newline.
            yield raw[:-1].split(b"\t")


def _sqlite_rows(conn: Connection, project_id: int, options: dict[str, Any], fmt: str,
                 style: str) -> Iterator[list[bytes]]:
    base = _base(project_id, options, "sqlite").subquery("x")
    # One text a row, fields joined by tabs: one str to encode instead of a tuple of values to convert.
    row = " || char(9) || ".join(_columns("sqlite", fmt, style))
    stmt = select(literal_column(row)).select_from(base).order_by(literal_column("x.instruction_id"))
    cursor = conn.execute(stmt).cursor  # sqlite3 steps through the result lazily, a row at a time
    try:
        for (text,) in cursor:
            yield text.encode().split(b"\t")
    finally:
        cursor.close()


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


def _candidates(packed: bytes) -> dict[int, bytes]:
    if not packed:
        return {}
    return {int(cid): text for cid, text in (part.split(b"\x02", 1) for part in packed.split(b"\x03"))}


CHOSEN_CHAT = b',"chosen":[{"role":"assistant","content":'
REJECTED_CHAT = b'}],"rejected":[{"role":"assistant","content":'
COMPLETION_CHAT = b',"completion":[{"role":"assistant","content":'


def _preference(fields: list[bytes], conversational: bool) -> list[bytes]:
    """Every (better, worse) pair across the consensus tiers, as `formats.preference_pairs` orders them."""
    if fields[3] == b"1":
        return []
    cands = _candidates(fields[8])
    texts = [[fields[7]]] if fields[4] == b"0" and fields[7] != b'""' else []  # a correction tops the order
    for tier in orjson.loads(fields[5]):
        if tier:
            texts.append([cands[c] for c in sorted(map(int, tier)) if c in cands])
    if conversational:
        pre, mid, end = b'{"prompt":' + fields[6] + CHOSEN_CHAT, REJECTED_CHAT, b"}]}"
    else:
        pre, mid, end = b'{"prompt":' + fields[6] + b',"chosen":', b',"rejected":', b"}"
    rows: list[bytes] = []
    for i, better in enumerate(texts):
        for worse in texts[i + 1:]:
            for chosen in better:
                start = pre + chosen + mid
                rows += [start + rejected + end for rejected in worse if rejected != chosen]
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
        return [head + COMPLETION_CHAT + text + b'}],"label":' + label + b"}" for text, label in completions]
    return [head + b',"completion":' + text + b',"label":' + label + b"}" for text, label in completions]
