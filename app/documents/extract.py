"""Text out of an uploaded file: plain text, Markdown, HTML, PDF, or JSONL of {id, title?, text}.

Every extractor returns sections (a heading and its body) so the splitter never parses markup again. Anything
that is not text we can use raises DocumentRejected with a stable code and a message naming what is wrong.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

FORMATS = ("text", "markdown", "html", "pdf", "jsonl")
EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html",
              ".htm": "html", ".pdf": "pdf", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BOM = "\ufeff"
# Bytes that never occur in text: NUL and the C0 controls other than tab, newline, form feed and carriage return.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


class DocumentRejected(Exception):
    """A file that cannot become a document; `code` is a stable word, `status` the HTTP status it maps to."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Section:
    heading: str
    body: str


@dataclass
class Extracted:
    """One document's text: its name, title and sections."""

    name: str
    format: str
    title: str = ""
    sections: list[Section] = field(default_factory=list)

    def canonical(self) -> str:
        """The document's text as stored and hashed: headings as Markdown lines, sections blank-line separated."""
        return "".join(_section_text(s) for s in self.sections)


def _section_text(section: Section) -> str:
    return (f"# {section.heading}\n\n" if section.heading else "") + section.body + "\n\n"


def format_of(name: str, declared: str | None = None) -> str:
    if declared and declared != "auto":
        if declared not in FORMATS:
            raise DocumentRejected("unknown_format", f"{name}: unknown format '{declared}'; use one of "
                                   f"{', '.join(FORMATS)}.")
        return declared
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        raise DocumentRejected("unsupported_type", f"{name}: cannot tell the format from '{suffix or 'no suffix'}'; "
                               f"upload .txt, .md, .html, .pdf or .jsonl files.", status=415)
    return EXTENSIONS[suffix]


def extract(name: str, data: bytes, fmt: str) -> list[Extracted]:
    """The documents in one file (one, except for JSONL); raises DocumentRejected."""
    if not data.strip():
        raise DocumentRejected("empty", f"{name}: the file is empty.")
    if fmt == "pdf":
        return [_pdf(name, data)]
    text = decode(name, data)
    if fmt == "jsonl":
        return _jsonl(name, text)
    doc = _html(name, text) if fmt == "html" else _markdown(name, text) if fmt == "markdown" else \
        Extracted(name, "text", sections=[Section("", text)])
    return [_require_text(doc)]


def decode(name: str, data: bytes) -> str:
    """Strict UTF-8: a binary file named .txt or a Latin-1 file is refused with the place of the first bad byte."""
    binary = _BINARY.search(data, 0, 1 << 16)
    if binary is not None:
        raise DocumentRejected("binary", f"{name}: this is not a text file (byte 0x{data[binary.start()]:02x} at "
                               f"offset {binary.start()}); upload text, Markdown, HTML, PDF or JSONL.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DocumentRejected("invalid_utf8", f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at line "
                               f"{line}, column {column}); save the file as UTF-8 and upload it again.") from exc
    return text.removeprefix(BOM).replace("\r\n", "\n").replace("\r", "\n")


def _require_text(doc: Extracted) -> Extracted:
    doc.sections = [s for s in doc.sections if s.body.strip()]
    if not doc.sections:
        raise DocumentRejected("no_text", f"{doc.name}: there is no text in it once the markup is removed.")
    return doc


def _markdown(name: str, text: str) -> Extracted:
    """Markdown through markdown-it-py's tokens: headings split sections, blocks become plain paragraphs."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections, heading, blocks, title = [], "", [], ""
    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline" and in_heading:
            if blocks:
                sections.append(Section(heading, "\n\n".join(blocks)))
            heading, blocks = _plain_inline(token), []
            title = title or heading
        elif token.type == "inline":
            blocks.append(_plain_inline(token))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
    if blocks:
        sections.append(Section(heading, "\n\n".join(b for b in blocks if b.strip())))
    return Extracted(name, "markdown", title=title, sections=sections)


def _plain_inline(token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
    return "".join(parts).strip()


_DROP = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form", "iframe")
_BLOCKS = ("p", "div", "li", "tr", "pre", "blockquote", "section", "article", "table", "ul", "ol", "dl", "dt", "dd",
           "figcaption", "main", "br", "hr")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def _html(name: str, text: str) -> Extracted:
    """HTML through Beautiful Soup: page chrome and scripts dropped, headings split sections."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup((*_DROP, "title", "head")):
        tag.decompose()
    marker = "\x00H"  # cannot occur in decoded text: we refused control bytes above
    for tag in soup(_HEADINGS):
        tag.replace_with(f"\n\n{marker}{tag.get_text(' ', strip=True)}\n\n")
    for tag in soup(_BLOCKS):
        tag.insert_after("\n\n")
    flat = soup.get_text()
    sections, heading, lines = [], "", []
    for line in flat.split("\n"):
        if line.startswith(marker):
            if "".join(lines).strip():
                sections.append(Section(heading, _paragraphs("\n".join(lines))))
            heading, lines = line[len(marker):].strip(), []
            title = title or heading
        else:
            lines.append(line)
    if "".join(lines).strip():
        sections.append(Section(heading, _paragraphs("\n".join(lines))))
    return Extracted(name, "html", title=title, sections=sections)


def _paragraphs(text: str) -> str:
    """Whitespace tidied: spaces collapsed within lines, at most one blank line between paragraphs."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _pdf(name: str, data: bytes) -> Extracted:
    """PDF through pypdf; a PDF without a text layer (scanned pages) is refused, it would give no passages."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip().startswith(b"%PDF"):
        raise DocumentRejected("not_pdf", f"{name}: this is not a PDF (it does not start with %PDF).")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentRejected("encrypted", f"{name}: the PDF is encrypted; upload an unlocked copy.")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except DocumentRejected:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentRejected("unreadable_pdf", f"{name}: the PDF cannot be read ({exc}).") from exc
    if not pages:
        raise DocumentRejected("no_text", f"{name}: the PDF has no pages.")
    if not any(p.strip() for p in pages):
        raise DocumentRejected("no_text", f"{name}: none of its {len(pages)} page(s) has a text layer (an image-only "
                               "or scanned PDF); run it through OCR first.")
    body = "\n\n".join(_paragraphs(p) for p in pages if p.strip())
    return Extracted(name, "pdf", title=title, sections=[Section("", body)])


def _jsonl(name: str, text: str) -> list[Extracted]:
    """One document per line: {"id", "title"?, "text"}; a bad line rejects the whole file, naming the line."""
    docs, seen = [], set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DocumentRejected("invalid_jsonl", f"{name}:{number}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(row, dict):
            raise DocumentRejected("invalid_jsonl", f"{name}:{number}: expected an object {{id, title?, text}}.")
        doc_id, title, body = row.get("id"), row.get("title", ""), row.get("text")
        if not isinstance(doc_id, str | int) or isinstance(doc_id, bool) or str(doc_id).strip() == "":
            raise DocumentRejected("invalid_jsonl", f"{name}:{number}: 'id' must be a non-empty string or number.")
        if not isinstance(body, str) or not body.strip():
            raise DocumentRejected("invalid_jsonl", f"{name}:{number}: 'text' must be a non-empty string.")
        if not isinstance(title, str):
            raise DocumentRejected("invalid_jsonl", f"{name}:{number}: 'title' must be a string.")
        if str(doc_id) in seen:
            raise DocumentRejected("invalid_jsonl", f"{name}:{number}: id '{doc_id}' appears twice in the file.")
        seen.add(str(doc_id))
        body = body.replace("\r\n", "\n").replace("\r", "\n")
        docs.append(Extracted(str(doc_id)[:500], "jsonl", title=title.strip()[:500],
                              sections=[Section(title.strip()[:500], body.strip())]))
    if not docs:
        raise DocumentRejected("empty", f"{name}: the file has no rows.")
    return docs
