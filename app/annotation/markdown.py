"""Safe Markdown: markdown-it-py with raw HTML off, then nh3 sanitising as a second wall."""

from __future__ import annotations

import html
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "code": {"class"}, "ol": {"start"},
               "th": {"style"}, "td": {"style"}}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").enable(
        "strikethrough")


def render_markdown(text: str | None) -> Markup:
    """User text as sanitised HTML; script, event handlers and javascript: links never survive."""
    html = _parser().render(text or "")
    clean = nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow")
    return Markup(clean)


IMAGE_REF = Markup('<span class="ann-image-ref" title="the image goes here">image</span>')


def image_refs(rendered: Markup) -> Markup:
    """Rendered Markdown with each <image> placeholder (escaped by then) shown as a marker where the image goes."""
    return Markup(str(rendered).replace("&lt;image&gt;", str(IMAGE_REF)))


def summary(text: str | None, limit: int = 180) -> str:
    """The first words of a Markdown text as plain text, for lists."""
    plain = nh3.clean(_parser().render(text or ""), tags=set()).replace("\n", " ").strip()
    plain = " ".join(html.unescape(plain).split())
    return plain if len(plain) <= limit else plain[: limit - 1].rsplit(" ", 1)[0] + "…"
