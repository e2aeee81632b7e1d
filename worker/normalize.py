"""One normalisation of an article's fields, whatever format it came in.

An item with a title and a body becomes the same stored title, the same model
text and so the same content sha256 from CSV, JSONL, RSS or Atom::

    title = clean_field(raw_title)            # plain text (CSV, JSONL, RSS titles)
    body = clean_field(raw_html, markup=True) # RSS/Atom HTML: tags dropped too
    text = compose_text(title, body)          # "Title. body"

``clean_field``: HTML character references decoded once (``&amp;`` is ``&``,
in every format, as an RSS reader would show it), every run of whitespace one
space, the ends stripped, Unicode NFC. ``compose_text``: the title, a full stop
unless it ends in one of ``.!?:``, a space, the body; the body alone when it
already starts with the title; the title alone when there is no body.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser
from typing import Any

TITLE_END = ".!?:"
"""A title ending in one of these gets no added full stop."""


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.hidden += tag in ("script", "style")
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style") and self.hidden > 0
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def strip_html(markup: str) -> str:
    """The text of an HTML fragment: tags, scripts and styles gone, entities
    decoded, whitespace collapsed."""
    parser = _TextOnly()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # noqa: BLE001 - markup the parser chokes on: drop tags crudely
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return " ".join(text.split())


def clean_field(value: str, *, markup: bool = False) -> str:
    """``value`` normalised (see the module); ``markup``: an HTML fragment, whose
    tags, scripts and styles are dropped as well."""
    text = strip_html(value) if markup else " ".join(html.unescape(value).split())
    return unicodedata.normalize("NFC", text)


def compose_text(title: str | None, body: str | None) -> str:
    """The model text of an article: ``Title. body`` (see the module)."""
    title, body = title or "", body or ""
    if title and body and not body.startswith(title):
        return title + ("" if title[-1] in TITLE_END else ".") + " " + body
    return body or title
