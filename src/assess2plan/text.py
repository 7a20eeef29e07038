"""Narrative text from assessments: HTML is kept as published and only sanitised when shown."""

from __future__ import annotations

import html
import re

import nh3

#: Tags that Red List narratives use and that are safe to show.
ALLOWED_TAGS = {
    "p", "br", "em", "i", "strong", "b", "u", "sup", "sub", "span", "ul", "ol", "li", "a",
    "table", "thead", "tbody", "tr", "td", "th", "blockquote", "div", "h1", "h2", "h3", "h4",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def sanitise_html(text: str | None) -> str:
    """Assessment HTML made safe to display: scripts, event handlers and styles removed."""
    if not text:
        return ""
    return nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_BLOCK = re.compile(r"</?(p|br|div|li|tr|h[1-6])\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")


def plain_text(text: str | None) -> str:
    """Assessment HTML as plain text (for terminals, CSV summaries and full-text search)."""
    if not text:
        return ""
    s = _BLOCK.sub(" ", text)
    s = _TAG.sub("", s)
    s = html.unescape(s)
    return " ".join(s.split())
