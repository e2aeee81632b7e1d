"""RSS and Atom documents: refused if they declare entities, parsed whole, item by item."""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

from newsclf.errors import InputError
from newsclf.worker.fetch import MAX_BODY_BYTES
from newsclf.worker.normalize import clean_field
from newsclf.worker.rows import Item, Limits, Notice, make_row

MAX_DOCUMENT_BYTES = MAX_BODY_BYTES
"""Largest RSS/Atom document (the largest download too)."""


def read_rss(stream: IO[bytes], name: str, limits: Limits) -> Iterator[Item]:
    """Parses the whole document now (a bad feed fails at once); yields items lazily."""
    import feedparser

    try:
        if stream.seekable() and stream.seek(0, 2) > MAX_DOCUMENT_BYTES:
            raise InputError(f"{name}: feed larger than {MAX_DOCUMENT_BYTES} bytes")
        stream.seek(0)
        data = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise InputError(f"{name}: feed larger than {MAX_DOCUMENT_BYTES} bytes")
        _refuse_declarations(data, name)
        feed = feedparser.parse(io.BytesIO(data), resolve_relative_uris=False, sanitize_html=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the parser's own failure becomes one line
        first = (str(exc).splitlines() or [""])[0]
        raise InputError(f"{name}: not an RSS/Atom feed ({type(exc).__name__}: {first})") from None
    finally:
        stream.close()
    why = (str(feed.get("bozo_exception", "")).splitlines() or [""])[0]
    if not feed.entries and (feed.bozo or not feed.get("version")):
        raise InputError(f"{name}: not an RSS/Atom feed ({why or 'no channel or feed element'})")

    def items() -> Iterator[Item]:
        if feed.bozo:
            yield Notice(
                None, f"feed is not well-formed XML ({why}); read {len(feed.entries)} items"
            )
        if not feed.entries:
            yield Notice(None, "the feed has no items")
        for position, entry in enumerate(feed.entries, 1):
            yield from make_row(position, _entry_fields(entry), limits, clean=False)

    return items()


_DECLARATION = re.compile(rb"<!ENTITY|<!DOCTYPE[^>\[]*\[")


def _refuse_declarations(data: bytes, name: str) -> None:
    """Refuse entity declarations and DOCTYPE internal subsets, before any parser sees them.

    Expat would stop a billion-laughs document, but feedparser's loose fallback
    then expands the declared entities itself (quadratically). A plain
    ``<!DOCTYPE rss PUBLIC ...>`` (RSS 0.91) declares nothing and is kept. The
    document is scanned as the parser will read it: converted to UTF-8 first, so
    a UTF-16 or EBCDIC document cannot hide a declaration."""
    try:
        from feedparser.encodings import convert_to_utf8

        utf8 = convert_to_utf8({}, data, {})
    except Exception:  # noqa: BLE001 - an unknown encoding: scan the bytes as they are
        utf8 = data
    for scanned in {id(data): data, id(utf8): utf8}.values():
        if _DECLARATION.search(scanned):
            raise InputError(
                f"{name}: refused: the feed declares XML entities or a DOCTYPE subset "
                "(not expanded, a feed has no need of them)"
            )


def _entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An RSS/Atom item as row fields, normalised: the body is the longer of summary
    and content; HTML fields lose their tags (a ``text/plain`` one keeps its ``<``)."""

    def cleaned(detail: Mapping[str, Any] | None, value: str | None) -> str:
        plain = (detail or {}).get("type") == "text/plain"
        return clean_field(value or "", markup=not plain)

    title = cleaned(entry.get("title_detail"), entry.get("title"))
    summary = cleaned(entry.get("summary_detail"), entry.get("summary"))
    content = " ".join(cleaned(c, c.get("value")) for c in entry.get("content") or [])
    body = content if len(content) > len(summary) else summary
    published: Any = entry.get("published") or entry.get("updated")
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if parsed:
        try:
            published = dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            pass
    return {"text": body, "title": title, "id": entry.get("id"), "link": entry.get("link"),
            "published": published}  # fmt: skip
