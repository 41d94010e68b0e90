"""A corpus of script-injection payloads and a checker for rendered HTML, shared by the page and browser tests."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlparse

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload=window.__xss=1>',
    "'\"><iframe src=\"javascript:window.__xss=1\"></iframe>",
    "[click me](javascript:window.__xss=1)",
    '<a href="javascript:window.__xss=1">link</a>',
    "</textarea><script>window.__xss=1</script>",
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:window.__xss=1)" onmouseover="window.__xss=1">hover</div>',
    "{{ 7*7 }}{% raw %}",
    "<details open ontoggle=window.__xss=1>",
]
TEXT = " ".join(PAYLOADS)
FORBIDDEN_TAGS = {"iframe", "svg", "style", "object", "embed", "img"}


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element")
        if tag == "script" and not urlparse(dict(attrs).get("src") or "").path.startswith("/static/"):
            self.problems.append("inline or foreign <script>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")


def injected(html: str) -> list[str]:
    """Elements or attributes in `html` that only an injection could have put there."""
    audit = _Audit()
    audit.feed(html)
    return audit.problems
