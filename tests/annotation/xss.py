"""A corpus of script-injection payloads and a checker for rendered HTML, shared by the page and browser tests."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser
from pathlib import Path
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


# The app's own images: served from /images/<sha256> (or its thumbnail), with nothing but inert attributes.
OWN_IMAGE_SRC = re.compile(r"^/images/[0-9a-f]{64}(?:/thumbnail)?$")
OWN_IMAGE_ATTRS = {"src", "alt", "title", "width", "height", "loading", "data-testid"}


class _Audit(HTMLParser):
    def __init__(self, own_images: bool, handlers: frozenset[str]) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.own_images = own_images
        self.handlers = handlers

    def _own_image(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        values = dict(attrs)
        return (self.own_images and tag == "img" and set(values) <= OWN_IMAGE_ATTRS
                and bool(OWN_IMAGE_SRC.match(values.get("src") or "")))

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS and not self._own_image(tag, attrs):
            self.problems.append(f"<{tag}> element")
        if tag == "script" and not urlparse(dict(attrs).get("src") or "").path.startswith("/static/"):
            self.problems.append("inline or foreign <script>")
        for name, value in attrs:
            if name.startswith("on") and value not in self.handlers:
                self.problems.append(f"{name}= on <{tag}>")
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")


def injected(html: str, *, own_images: bool = False, handlers: frozenset[str] = frozenset()) -> list[str]:
    """Elements or attributes in `html` that only an injection could have put there. With `own_images`, an <img>
    of the app's own image route with only inert attributes is allowed; an `on*` attribute is allowed only when
    its whole value is one of `handlers` (constant handlers written in a template, see template_handlers)."""
    audit = _Audit(own_images, handlers)
    audit.feed(html)
    return audit.problems


def template_handlers(folder: Path) -> frozenset[str]:
    """Every `on*` attribute value written whole and constant (no Jinja inside) in the templates under `folder`,
    as the browser reads it (entities decoded): a page may carry these, and nothing an injection could add."""
    found = set()
    for path in folder.rglob("*.html"):
        for value in re.findall(r'\son[a-z]+="([^"]*)"', path.read_text()):
            if "{{" not in value and "{%" not in value:
                found.add(html_lib.unescape(value))
    return frozenset(found)
