"""A feed row, as every format yields it, and the checks every format shares.

``make_row`` turns one record's fields (a CSV row, a JSONL object, an RSS/Atom
item) into a ``FeedRow`` (after its ``Notice``s) or one ``Rejected``: the
``--column`` mapping applied (``worker.columns``), title and text normalised
(``worker.normalize``), NUL characters removed, lone surrogates rejected, the
text capped at ``max_text_chars`` (cut or rejected, per ``long_text``), the
other stored fields capped, the date parsed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from newsclf.schema.models import SOURCE_MAX_CHARS
from newsclf.worker.columns import ALIASES, pick, used_names
from newsclf.worker.normalize import clean_field, compose_text

TEXT_COLUMNS = ALIASES["text"]
"""Candidate text columns (case-insensitive), in order: the first present is used."""

MAX_TITLE_CHARS = 1_000
"""Longest title stored: a longer one is cut, with a note."""
MAX_URL_CHARS = 2_048
"""Longest URL stored: a longer one is dropped (a cut URL leads elsewhere), with a note."""
MAX_ID_CHARS = 512
"""Longest external id stored: a longer one is dropped, with a note."""


@dataclass(frozen=True)
class FeedRow:
    """A good row: ``text`` is non-empty, NUL-free, valid Unicode, within ``max_text_chars``."""

    line: int
    text: str
    title: str | None = None
    external_id: str | None = None
    url: str | None = None
    published_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """The columns not used (e.g. ``category``), as read."""
    source: str | None = None
    """The row's own source (a ``source`` column), when it has one."""


@dataclass(frozen=True)
class Rejected:
    """A row that was skipped, and why."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass(frozen=True)
class Notice:
    """A note on the file (``line`` None) or on a row that was kept."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


Item = FeedRow | Rejected | Notice


@dataclass(frozen=True)
class Limits:
    """What ``read_feed`` was asked to accept."""

    max_text_chars: int
    long_text: str
    columns: Mapping[str, str] = field(default_factory=dict)
    """``--column`` mapping: field -> column name or dotted JSONL path."""

    @property
    def line_bytes(self) -> int:
        return 4 * self.max_text_chars + (1 << 20)

    @functools.cached_property
    def used(self) -> frozenset[str]:
        """The column names some field is read from (once, not per row)."""
        return used_names(self.columns)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def make_row(
    line: int, fields: Mapping[str, Any], limits: Limits, *, clean: bool = True
) -> Iterator[Item]:
    """The checks every format shares: a good row (after its notices), or one rejection.

    ``clean``: normalise title and text (``worker.normalize``); False when the
    reader did it already (RSS/Atom, whose HTML needs its tags dropped too)."""
    columns = limits.columns
    body, title = pick(fields, "text", columns), pick(fields, "title", columns)
    if body is not None and not isinstance(body, str):
        yield Rejected(line, "the text field is not a string")
        return
    if body is None and not isinstance(title, str):
        expected = columns.get("text") or ", ".join(TEXT_COLUMNS)
        yield Rejected(line, f"no text field (expected {expected})")
        return
    values = {"text": body, "title": _text(title)}
    values |= {k: _text(pick(fields, k, columns)) for k in ("id", "url", "source")}
    published = pick(fields, "published", columns)
    notes = []
    if any("\x00" in v for v in values.values() if v):
        values = {k: v.replace("\x00", "") if v else v for k, v in values.items()}
        notes.append("NUL characters removed")
    for key, value in values.items():
        if value and not _is_valid_unicode(value):
            yield Rejected(line, f"{key} holds invalid Unicode (a lone surrogate)")
            return
    if clean:
        values["text"], values["title"] = (
            clean_field(values[k]) if values[k] else values[k] for k in ("text", "title")
        )
    title = values["title"] or None
    text = compose_text(title, values["text"])
    if not text.strip():
        yield Rejected(line, "empty text")
        return
    if len(text) > limits.max_text_chars:
        if limits.long_text == "reject":
            limit = limits.max_text_chars
            yield Rejected(line, f"text too long ({len(text)} characters; limit {limit})")
            return
        notes.append(f"text truncated from {len(text)} to {limits.max_text_chars} characters")
        text = text[: limits.max_text_chars]
    try:
        published_at = parse_published(published)
    except ValueError:
        published_at = None
        notes.append(f"unreadable date {str(published)[:60]!r} ignored")
    external_id, url, source = ((values[k] or "").strip() or None for k in ("id", "url", "source"))
    if title and len(title) > MAX_TITLE_CHARS:
        notes.append(f"title cut from {len(title)} to {MAX_TITLE_CHARS} characters")
        title = title[:MAX_TITLE_CHARS]
    if source and len(source) > SOURCE_MAX_CHARS:
        notes.append(f"source cut from {len(source)} to {SOURCE_MAX_CHARS} characters")
        source = source[:SOURCE_MAX_CHARS]
    if url and len(url) > MAX_URL_CHARS:
        notes.append(f"url of {len(url)} characters dropped (limit {MAX_URL_CHARS})")
        url = None
    if external_id and len(external_id) > MAX_ID_CHARS:
        notes.append(f"id of {len(external_id)} characters dropped (limit {MAX_ID_CHARS})")
        external_id = None
    yield from (Notice(line, note) for note in notes)
    extra = {k: v for k, v in fields.items() if k not in limits.used}
    yield FeedRow(line, text, title, external_id, url, published_at, extra, source)


def _is_valid_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_EPOCH = re.compile(r"\d{9,11}(\.\d+)?")


def parse_published(value: Any) -> dt.datetime | None:
    """A publication time from ISO 8601, RFC 2822 or epoch seconds; naive means UTC.
    None or blank: None; anything else unreadable raises ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parsed = dt.datetime.fromtimestamp(value, dt.UTC)
        elif not isinstance(value, str):
            raise ValueError(f"not a date: {type(value).__name__}")
        elif _EPOCH.fullmatch(value.strip()):
            parsed = dt.datetime.fromtimestamp(float(value), dt.UTC)
        else:
            try:
                parsed = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, OverflowError, OSError, IndexError) as exc:
        raise ValueError(str(exc)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
