"""Import files for the importer fuzzing: valid rows of every format, and hostile variants with the error they earn.

A file is a list of rows written as JSON Lines or as a JSON array laid out one item per line (so item k is
on line k and every error, parse or row, names the same number), optionally gzipped. A `Bad` file carries
what its refusal must say: the line, one of the field names, and what is wrong.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import strategies as st

FORMATS = ("alpaca", "messages", "sharegpt", "llava", "self-instruct", "prompt-completion", "comparison")
CONTAINERS = ("jsonl", "json", "jsonl.gz", "json.gz")
STYLES = ("utf8", "ascii", "crlf", "bom")  # ascii: every non-ASCII character escaped, astral ones as surrogate pairs
BOM = b"\xef\xbb\xbf"
EOT = "<|endoftext|>"
ROLES = ("system", "user", "assistant", "user", "assistant")  # a system turn, one earlier exchange, then the task
SPEAKERS = {"system": "system", "user": "human", "assistant": "gpt"}
# Columns some reader takes: an unknown column must not be one of them (or it would change the format).
RESERVED = {"id", "external_id", "instruction", "input", "output", "system", "history", "messages", "conversations",
            "instances", "prompt", "completion", "template", "response", "target", "image", "user_input",
            "responses_and_scores", "generator", "name", "is_classification", "motivation_app"}

ODD_PIECES = [
    "\u202eevil\u202c", "\u200f\u200e", "\u2067isolate\u2069",  # bidi overrides, marks and isolates
    "\u200b\u200c\u200d\ufeff",  # zero-width space, non-joiner, joiner, BOM
    "e\u0301\u0327\u20dd", "Z\u0364\u0351\u0353",  # stacked combining marks
    "\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffff",  # noncharacters
    "\U0001f4a9\U0001f9d1\u200d\U0001f4bb\U00020000",  # astral plane, a ZWJ sequence
    "\u2028\u2029\x85\xa0\u3000",  # line and paragraph separators, NEL, no-break and ideographic spaces
    "\ue000\U000f0000\ufffd",  # private use, replacement character
    "\t\n\r", "\\u0000 \\n \\\\", '"quoted"', "[bold]x[/bold] [/red]", "<script>alert(1)</script>",
    "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947",
]
# Framed so no text is blank and none starts or ends with whitespace (some readers trim a completion).
odd_text = (st.lists(st.sampled_from(ODD_PIECES) | st.characters(blacklist_categories=("Cs", "Cc")),
                     min_size=1, max_size=6).map(lambda parts: "\u00ab" + "".join(parts) + "\u00bb"))
clean_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


def _depth(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + max(map(_depth, node.values()), default=0)
    if isinstance(node, list):
        return 1 + max(map(_depth, node), default=0)
    return 0


# Metadata values: integers a double holds exactly and finite floats (JSON numbers beyond that are the
# parser's business, as on ingest), text with odd characters; nesting well within the metadata limit.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text | clean_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(clean_text, children, max_size=3),
    max_leaves=6,
).filter(lambda v: _depth(v) <= 5)
extra_columns = st.dictionaries(clean_text.filter(lambda k: k not in RESERVED), json_values, max_size=3)


@dataclass
class Texts:
    instruction: str
    input: str
    system: str
    output: str
    user: str
    reply: str
    source: str


texts = st.builds(Texts, *(odd_text,) * 7)


def row_for(fmt: str, t: Texts, ext: str, extra: dict[str, Any]) -> dict[str, Any]:
    """One row of `fmt` that carries every text of `t`, with `extra` as unknown columns."""
    contents = (t.system, t.user, t.reply, t.instruction, t.output)
    if fmt == "alpaca":
        return {"id": ext, "instruction": t.instruction, "input": t.input, "system": t.system, "output": t.output,
                "history": [[t.user, t.reply]], **extra}
    if fmt == "messages":
        return {"id": ext, "messages": [{"role": r, "content": c} for r, c in zip(ROLES, contents, strict=True)],
                **extra}
    if fmt == "sharegpt":
        return {"id": ext, "conversations": [{"from": SPEAKERS[r], "value": c}
                                             for r, c in zip(ROLES, contents, strict=True)], **extra}
    if fmt == "llava":  # no system turn; "image": [] (no pictures) still marks the row as LLaVA's
        turns = zip(("human", "gpt", "human", "gpt"), (t.user, t.reply, t.instruction, t.output), strict=True)
        return {"id": ext, "image": [], "conversations": [{"from": f, "value": v} for f, v in turns], **extra}
    if fmt == "self-instruct":
        return {"id": ext, "instruction": t.instruction, "instances": [{"input": t.input, "output": t.output}],
                **extra}
    if fmt == "comparison":  # one instruction per user input: the row's id makes each input distinct
        return {"user_input": f"{ext} {t.instruction}",
                "responses_and_scores": [{"response": t.output, "score": 7.5, "source": t.source}], **extra}
    return {"id": ext, "prompt": t.instruction, "completion": t.output + EOT, "template": t.source, **extra}


def stored_for(fmt: str, t: Texts, ext: str, extra: dict[str, Any], stem: str) -> dict[str, Any]:
    """What the instruction row must hold after importing row_for(fmt, t, ext, extra) from a file named stem.*."""
    chat = fmt in ("alpaca", "messages", "sharegpt", "llava")
    if fmt == "comparison":
        from app.imports.readers import comparison_id

        prompt = f"{ext} {t.instruction}"
        return {"external_id": comparison_id(prompt), "instruction": prompt, "input": "", "system": "",
                "history": [], "source": stem, "metadata": extra, "candidates": [(t.output, "imported")]}
    return {"external_id": ext, "instruction": t.instruction,
            "input": t.input if fmt in ("alpaca", "self-instruct") else "",
            "system": t.system if chat and fmt != "llava" else "",
            "history": [{"role": "user", "content": t.user}, {"role": "assistant", "content": t.reply}] if chat else [],
            "source": t.source if fmt == "prompt-completion" else stem, "metadata": extra,
            "candidates": [(t.output, "reference")]}


def lines_of(rows: list[Any], style: str) -> list[bytes]:
    dump = (lambda r: json.dumps(r, ensure_ascii=True).encode()) if style == "ascii" else orjson.dumps
    return [dump(r) for r in rows]


def assemble(lines: list[bytes], container: str, style: str) -> bytes:
    """The file's bytes: JSON Lines, or a JSON array with item k on line k; BOM and gzip as asked."""
    eol = b"\r\n" if style == "crlf" else b"\n"
    if container.split(".")[0] == "json":
        body = b"[" + (b"," + eol).join(lines) + b"]" + eol
    else:
        body = b"".join(line + eol for line in lines)
    if style == "bom":
        body = BOM + body
    return gzip.compress(body, mtime=0) if container.endswith(".gz") else body


@dataclass
class Bad:
    """A hostile file and what its refusal must say."""

    kind: str
    name: str  # the file's name (its suffix picks gzip; its stem is the source and the model)
    data: bytes
    fmt: str  # the --format given
    line: int | None  # the line the message names; None: the file as a whole
    names: tuple[str, ...]  # one of them must be in the message: the field (empty: no field to name)
    what: str  # a regular expression for what is wrong
    good_rows: list[dict[str, Any]]  # the valid rows before the bad line, which must not be kept either


# ---------------------------------------------------------------- the fields of each format and how to spoil them

@dataclass(frozen=True)
class Field:
    path: tuple[Any, ...]  # where in the row
    kind: str  # text, opt_text, list, opt_list, obj, pair, id, req_id, role, speaker
    required: bool  # leaving it out is an error
    aliases: tuple[str, ...] = ()  # the item field an adapter message names instead (empty, too long, control)

    @property
    def name(self) -> str:
        out = str(self.path[0])
        for part in self.path[1:]:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


def _turn_fields(key: str, role: str, content: str) -> list[Field]:
    # Turn 3 is the last user turn (the instruction), turn 1 an earlier one (history), turn 4 the reply.
    return [Field((key,), "list", True), Field((key, 1), "obj", False),
            Field((key, 1, role), "role" if key == "messages" else "speaker", True),
            Field((key, 0, content), "text", True, ("system",)), Field((key, 1, content), "text", True, ("history",)),
            Field((key, 3, content), "text", True, ("instruction",)),
            Field((key, 4, content), "text", True, ("candidates",)), Field(("id",), "id", False)]


FIELDS: dict[str, list[Field]] = {
    "alpaca": [Field(("instruction",), "text", True, ("instruction",)), Field(("input",), "opt_text", False),
               Field(("system",), "opt_text", False), Field(("output",), "opt_text", False, ("candidates",)),
               Field(("history",), "opt_list", False), Field(("history", 0), "pair", False),
               Field(("history", 0, 0), "text", True, ("history",)), Field(("id",), "id", False)],
    "messages": _turn_fields("messages", "role", "content"),
    "sharegpt": _turn_fields("conversations", "from", "value"),
    # LLaVA: human, gpt (the history), human (the instruction), gpt (the reference); no system turn.
    "llava": [Field(("conversations",), "list", True), Field(("conversations", 1), "obj", False),
              Field(("conversations", 1, "from"), "speaker", True),
              Field(("conversations", 0, "value"), "text", True, ("history",)),
              Field(("conversations", 2, "value"), "text", True, ("instruction",)),
              Field(("conversations", 3, "value"), "text", True, ("candidates",)), Field(("id",), "id", False),
              Field(("image",), "image", False)],
    "comparison": [Field(("user_input",), "text", True, ("instruction",)),
                   Field(("responses_and_scores",), "list", True), Field(("responses_and_scores", 0), "obj", True),
                   Field(("responses_and_scores", 0, "response"), "text", True, ("candidates",)),
                   Field(("responses_and_scores", 0, "score"), "number", True),
                   Field(("responses_and_scores", 0, "source"), "opt_text", False)],
    "self-instruct": [Field(("id",), "req_id", True), Field(("instruction",), "text", True, ("instruction",)),
                      Field(("instances",), "list", True), Field(("instances", 0), "obj", True),
                      Field(("instances", 0, "input"), "opt_text", False, ("input",)),
                      Field(("instances", 0, "output"), "opt_text", False, ("candidates",))],
    "prompt-completion": [Field(("prompt",), "text", True, ("instruction",)),
                          Field(("completion",), "text", True, ("candidates",)),
                          Field(("template",), "opt_text", False, ("source",)), Field(("id",), "id", False)],
    "predictions": [Field(("instruction",), "text", True, ("instruction",)), Field(("input",), "opt_text", False),
                    Field(("response",), "text", True, ("candidates",)), Field(("target",), "opt_text", False)],
    # AlpacaEval-style answers of one model, joined to the project's instructions like predictions.
    "answers": [Field(("instruction",), "text", True, ("instruction",)), Field(("input",), "opt_text", False),
                Field(("output",), "text", True, ("candidates",)), Field(("generator",), "opt_text", False)],
}

_scalars = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.booleans()
_lists = st.lists(clean_text, max_size=3)
_dicts = st.dictionaries(clean_text, st.integers(-(2**53), 2**53), max_size=2)
WRONG: dict[str, st.SearchStrategy] = {
    "text": _scalars | _lists | _dicts | st.none(),
    "opt_text": _scalars | _lists | _dicts,
    "list": _scalars | clean_text | _dicts | st.none(),
    "opt_list": _scalars | clean_text | _dicts,
    "obj": _scalars | clean_text | _lists | st.none(),
    "pair": _scalars | clean_text | _dicts | st.none() | st.lists(odd_text, max_size=4).filter(lambda p: len(p) != 2),
    "id": _dicts | _lists | st.booleans(),
    "req_id": _dicts | _lists | st.booleans() | st.none(),
    "role": _scalars | _lists | _dicts | st.none() | st.sampled_from(["human", "gpt", "tool", "", "[/red]"]),
    "speaker": _scalars | _lists | _dicts | st.none() | st.sampled_from(["tool", "", "[/red]", "x" * 300]),
    "number": clean_text | _lists | _dicts | st.none() | st.booleans(),
    "image": _scalars | _dicts | st.just([""]) | st.lists(_scalars, min_size=1, max_size=2),
}


def _set(row: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> None:
    for part in path[:-1]:
        row = row[part]
    if delete:
        del row[path[-1]]
    else:
        row[path[-1]] = value


def name_for(container: str, stem: str = "data") -> str:
    return f"{stem}.{container}"


@st.composite
def good_rows(draw, fmt: str, n: int) -> list[dict[str, Any]]:
    """n valid rows of fmt with distinct ids; unknown columns in some."""
    return [row_for(fmt, draw(texts), f"r{i}-{draw(odd_text)}", draw(extra_columns)) for i in range(n)]


@st.composite
def setting(draw) -> tuple[str, str, str, bool]:
    """(format, container, style, explicit format?) for a file."""
    return (draw(st.sampled_from(FORMATS)), draw(st.sampled_from(CONTAINERS)), draw(st.sampled_from(STYLES)),
            draw(st.booleans()))


@st.composite
def spoiled_field(draw, *, missing: bool) -> Bad:
    """Valid rows, then one row with a field of the wrong type (or a required one left out), maybe more after."""
    fmt, container, style, explicit = draw(setting())
    before, after = draw(good_rows(fmt, draw(st.integers(1, 3)))), draw(good_rows(fmt, draw(st.integers(0, 2))))
    fields = [f for f in FIELDS[fmt] if f.required] if missing else FIELDS[fmt]
    field = draw(st.sampled_from(fields))
    bad = row_for(fmt, draw(texts), "spoilt", {})
    names: tuple[str, ...] = (field.name,)
    if missing:
        _set(bad, field.path, None, delete=True)
        what = r"missing|required|must be|must have"
        if isinstance(field.path[-1], int):  # an item taken out of a list: the list is what is wrong
            names = (field.name, Field(field.path[:-1], field.kind, True).name)
    else:
        _set(bad, field.path, draw(WRONG[field.kind]))
        what = r"must be|unknown (role|speaker)"
    rows = [*before, bad, *after]
    return Bad("missing field" if missing else "wrong type", name_for(container),
               assemble(lines_of(rows, style), container, style), fmt if explicit else "auto", len(before) + 1,
               names, what, before)


@st.composite
def blank_text(draw) -> Bad:
    """A required text that is empty or only whitespace (odd whitespace included)."""
    fmt, container, style, explicit = draw(setting())
    field = draw(st.sampled_from([f for f in FIELDS[fmt] if f.kind == "text" and "instruction" in f.aliases]))
    before = draw(good_rows(fmt, draw(st.integers(1, 2))))
    bad = row_for(fmt, draw(texts), "blank", {})
    _set(bad, field.path, draw(st.sampled_from(["", " ", "\t\n", "\u3000\u2028", "\xa0\x85"])))
    rows = [*before, bad]
    return Bad("blank text", name_for(container), assemble(lines_of(rows, style), container, style),
               fmt if explicit else "auto", len(before) + 1, (field.name, *field.aliases), "must not be empty", before)


def _splice(lines: list[bytes], k: int, insert: bytes, at: float) -> list[bytes]:
    """Insert bytes into line k (1-based) at a character boundary about `at` of the way along."""
    line = lines[k - 1]
    boundaries = [i for i in range(1, len(line)) if line[i] & 0xC0 != 0x80]
    pos = boundaries[min(int(at * len(boundaries)), len(boundaries) - 1)]
    return [*lines[:k - 1], line[:pos] + insert + line[pos:], *lines[k:]]


@st.composite
def byte_damage(draw) -> Bad:
    """Invalid UTF-8, a raw control byte, a lone surrogate escape or a stray BOM inside one line."""
    fmt, container, style, explicit = draw(setting())
    rows = draw(good_rows(fmt, draw(st.integers(2, 4))))
    k = draw(st.integers(2, len(rows)))
    lines = lines_of(rows, style)
    damage = draw(st.sampled_from(["utf8", "control", "surrogate", "bom"]))
    at = draw(st.floats(0, 1))
    if damage == "utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
        lines, what = _splice(lines, k, bad, at), "invalid UTF-8"
    elif damage == "control":
        byte = draw(st.sampled_from([b"\x00", b"\x01", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x1f", b"\x7f"]))
        # A raw DEL is valid JSON: inside a value it is a control character, inside a key or a role name the
        # row then lacks a field or names an unknown role.
        lines, what = _splice(lines, k, byte, at), "not valid JSON|control character|missing|unknown (role|speaker)"
    elif damage == "surrogate":
        escape = draw(st.sampled_from([b"\\ud800", b"\\udfff", b"\\udc00\\ud800", b"\\ud83d x"]))
        quote = lines[k - 1].index(b'":"') + 3 if b'":"' in lines[k - 1] else lines[k - 1].index(b'": "') + 4
        lines[k - 1] = lines[k - 1][:quote] + escape + lines[k - 1][quote:]
        what = "not valid JSON"
    else:
        lines[k - 1] = BOM + lines[k - 1]
        what = "not valid JSON"
    return Bad(f"{damage} damage", name_for(container), assemble(lines, container, style),
               fmt if explicit else "auto", k, (), what, rows[:k - 1])


@st.composite
def truncated(draw) -> Bad:
    """A file cut inside line k, before that row's closing brace (so the cut is never at a row's end)."""
    fmt, container, style, explicit = draw(setting())
    rows = draw(good_rows(fmt, draw(st.integers(1, 4))))
    k = draw(st.integers(1, len(rows)))
    lines = lines_of(rows, style)
    cut = draw(st.integers(1, len(lines[k - 1]) - 1))
    body = assemble([*lines[:k - 1], lines[k - 1][:cut]], container.removesuffix(".gz"), style)
    body = body[:body.rindex(lines[k - 1][:cut]) + cut]  # drop the array's closing bracket and the newline
    data = gzip.compress(body, mtime=0) if container.endswith(".gz") else body
    # A cut inside a multi-byte character leaves invalid UTF-8; anywhere else, unfinished JSON.
    return Bad("truncated", name_for(container), data, fmt if explicit else "auto", k, (),
               "not valid JSON|invalid UTF-8", rows[:k - 1])


@st.composite
def escaped_control(draw) -> Bad:
    """A JSON-escaped control character (\\u0000 and friends) in a text field or an unknown column."""
    fmt, container, style, explicit = draw(setting())
    before = draw(good_rows(fmt, draw(st.integers(1, 2))))
    char = draw(st.sampled_from(["\x00", "\x01", "\x08", "\x0c", "\x1b", "\x7f"]))
    t = draw(texts)
    where = draw(st.sampled_from(["text", "column", "key"]))
    if where == "text":
        field = draw(st.sampled_from([f for f in FIELDS[fmt] if f.kind in ("text", "opt_text") and f.aliases]))
        bad = row_for(fmt, t, "ctl", {})
        _set(bad, field.path, f"a{char}b")
        names = (field.name, *field.aliases)
    else:
        extra = {"note": f"a{char}b"} if where == "column" else {f"n{char}te": "b"}
        bad = row_for(fmt, t, "ctl", extra)
        names = ("metadata",)
    rows = [*before, bad]
    return Bad("escaped control character", name_for(container), assemble(lines_of(rows, style), container, style),
               fmt if explicit else "auto", len(before) + 1, names, "control character", before)


@st.composite
def deep(draw) -> Bad:
    """Nesting beyond the metadata limit, or beyond the parser's, in an unknown column, a field or the row itself."""
    fmt, container, style, explicit = draw(setting())
    before = draw(good_rows(fmt, draw(st.integers(1, 2))))
    depth = draw(st.sampled_from([8, 50, 1000, 5000]))
    where = draw(st.sampled_from(["column", "field", "row"]))
    bad: Any = row_for(fmt, draw(texts), "deep", {"nest": "NEST"} if where == "column" else {})
    field = FIELDS[fmt][0]
    if where == "field":
        _set(bad, field.path, "NEST")
    elif where == "row":
        bad = "NEST"
    nested = b"[" * depth + b"1" + b"]" * depth
    line = orjson.dumps(bad).replace(b'"NEST"', nested)
    # Past about 1,000 levels the JSON parser gives up and the line is simply not valid JSON.
    names = () if depth > 1000 else {"column": ("metadata",), "field": (field.name,), "row": ("row",)}[where]
    what = "nested deeper|not valid JSON|must be|not a JSON object"
    return Bad("deep nesting", name_for(container), assemble([*lines_of(before, style), line], container, style),
               fmt if explicit else "auto", len(before) + 1, names, what, before)


FOREIGN = [  # files in a format the importer does not read, with the line the first refusal names
    ("data.csv", b"instruction,input,output\nSay hi,,Hello\n", 1),
    ("data.tsv", b"instruction\toutput\r\nSay hi\tHello\r\n", 1),
    ("data.yaml", b"- instruction: Say hi\n  output: Hello\n", 1),
    ("data.xml", b'<?xml version="1.0"?>\n<rows><row instruction="x"/></rows>\n', 1),
    ("data.jsonl", b"\xff\xfe{\x00\"\x00i\x00\"\x00:\x001\x00}\x00\n\x00", 1),  # UTF-16
    ("data.jsonl", b'{"instruction": "pretty",\n  "output": "printed"}\n', 1),
    ("data.jsonl", b"1\n2\n", 1),
    ("data.jsonl", b'"just a string"\n', 1),
    ("data.jsonl", b'{"instruction": "ok"} {"instruction": "two on a line"}\n', 1),
    ("data.jsonl", b"\x00" * 64 + b"\n", 1),
]


def foreign() -> st.SearchStrategy[Bad]:
    return st.sampled_from(FOREIGN).map(lambda f: Bad("not JSON Lines", f[0], f[1], "auto", f[2], (),
                                                      "not valid JSON|invalid UTF-8|cannot tell the format", []))


# ---------------------------------------------------------------- Self-Instruct predictions (one model's responses)

def prediction_row(t: Texts, *, target: bool) -> dict[str, Any]:
    # Real prediction files end the instruction with a newline the task file does not have.
    row = {"instruction": t.instruction + "\n", "input": t.input, "response": t.output}
    return {**row, "target": t.reply} if target else row


def answer_row(t: Texts) -> dict[str, Any]:
    return {"instruction": t.instruction, "input": t.input, "output": t.output, "generator": t.source}


@st.composite
def spoiled_prediction(draw, *, missing: bool, answers: bool = False) -> Bad:
    """Prediction rows (davinci.jsonl), or AlpacaEval answers (gpt4.json), then one with a field of the wrong
    type or a required one left out."""
    container, style = draw(st.sampled_from(CONTAINERS)), draw(st.sampled_from(STYLES))
    make = answer_row if answers else (lambda t: prediction_row(t, target=draw(st.booleans())))
    before = [make(draw(texts)) for _ in range(draw(st.integers(1, 3)))]
    spec = FIELDS["answers" if answers else "predictions"]
    field = draw(st.sampled_from([f for f in spec if f.required] if missing else spec))
    bad = make(draw(texts))
    if missing:
        _set(bad, field.path, None, delete=True)
    else:
        _set(bad, field.path, draw(WRONG[field.kind]))
    rows = [*before, bad]
    kind = ("answer " if answers else "prediction ") + ("missing field" if missing else "wrong type")
    formats = ["auto", "answers"] if answers else ["auto", "self-instruct"]
    return Bad(kind, name_for(container, "gpt4" if answers else "davinci"),
               assemble(lines_of(rows, style), container, style), draw(st.sampled_from(formats)),
               len(before) + 1, (field.name,), r"missing|must be", before)


def hostile_file() -> st.SearchStrategy[Bad]:
    """Any of the hostile kinds above, for the tests that go through a user's entry point."""
    return st.one_of(spoiled_field(missing=False), spoiled_field(missing=True), blank_text(), byte_damage(),
                     truncated(), escaped_control(), deep(), foreign(), spoiled_prediction(missing=False),
                     spoiled_prediction(missing=True), spoiled_prediction(missing=False, answers=True),
                     spoiled_prediction(missing=True, answers=True))
