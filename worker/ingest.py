"""Feed readers: CSV/TSV, JSONL and RSS/Atom, from files or http(s) URLs, row by row.

Pure Python (no database, no Celery). A bad row costs that row alone::

    for item in read_feed("feed.csv", max_text_chars=100_000, long_text="truncate"):
        match item:
            case FeedRow():  store(item)                     # a good row
            case Rejected(): report(item.line, item.reason)  # a bad row, and why
            case Notice():   note(str(item))                 # said of the file or of a kept row

``read_feed`` checks the source at once (missing, a directory, empty, no text
column, not a feed: one-line ``InputError``) and then streams: CSV and JSONL
are read line by line, so memory stays flat whatever the size; an RSS/Atom
document is parsed whole (at most ``MAX_DOCUMENT_BYTES``), after a scan that
refuses entity declarations. URLs are fetched by ``worker.fetch``.

``line`` is the record's number in the feed, from 1, in every format: the
first data row of a CSV (the header is not counted), the first JSONL object,
the first RSS/Atom item; blank lines are not counted, a quoted CSV field that
spans lines is one record. A rejection whose record does not start on that
physical line of the file says ``(file line N)``.

Decisions: every format goes through one normalisation (``worker.normalize``):
title and body with entities decoded, whitespace collapsed, NFC; RSS/Atom HTML
loses its tags; the text to classify is ``Title. body`` (a summary alone is
short), the body alone when it starts with the title, the title alone when
there is no body. So one item hashes the same from CSV, JSONL, RSS or Atom.
``--column FIELD=HEADER`` (``worker.columns``) says which column holds a field.
NUL characters are removed, with a note (PostgreSQL refuses them). A text over
``max_text_chars`` is cut (with a note) or rejected, per ``long_text``; a title,
URL, id or row source over its cap is cut (title, source) or dropped (URL, id),
with a note; a physical line over ``4 * max_text_chars + 1 MiB`` bytes, or a CSV
field over the csv module's 131,072 characters, is rejected either way. A date
that cannot be read leaves ``published_at`` None, with a note; naive dates are UTC.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import email.utils
import io
import itertools
import json
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from newsclf.errors import InputError
from schema.models import SOURCE_MAX_CHARS
from schema.store import content_sha256  # the dedup key, re-exported for feed code
from worker.columns import ALIASES, LABEL_COLUMNS, dig, pick, used_names
from worker.fetch import MAX_BODY_BYTES, FetchPolicy, fetch, mask_url
from worker.normalize import clean_field, compose_text, strip_html

__all__ = ["FeedRow", "Notice", "Rejected", "content_sha256", "read_feed", "strip_html"]

TEXT_COLUMNS = ALIASES["text"]
"""Candidate text columns (case-insensitive), in order: the first present is used."""

MAX_TITLE_CHARS = 1_000
"""Longest title stored: a longer one is cut, with a note."""
MAX_URL_CHARS = 2_048
"""Longest URL stored: a longer one is dropped (a cut URL leads elsewhere), with a note."""
MAX_ID_CHARS = 512
"""Longest external id stored: a longer one is dropped, with a note."""

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".rss": "rss", ".xml": "rss", ".atom": "rss"}  # fmt: skip
"""Formats known by extension; other files are sniffed from their first byte."""

MAX_DOCUMENT_BYTES = MAX_BODY_BYTES
"""Largest RSS/Atom document, and largest download."""
SNIFF_BYTES = 4096
BOM = b"\xef\xbb\xbf"


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
class _Limits:
    max_text_chars: int
    long_text: str
    columns: Mapping[str, str] = field(default_factory=dict)
    """``--column`` mapping: field -> column name or dotted JSONL path."""

    @property
    def line_bytes(self) -> int:
        return 4 * self.max_text_chars + (1 << 20)


def read_feed(
    source: str | Path,
    *,
    max_text_chars: int,
    long_text: str = "truncate",
    fmt: str | None = None,
    fetch_policy: FetchPolicy | None = None,
    columns: Mapping[str, str] | None = None,
) -> Iterator[Item]:
    """The rows of the feed at ``source`` (a path or an http(s) URL), streamed.

    ``fmt``: csv, tsv, jsonl, rss or atom; None: by extension, else sniffed.
    ``fetch_policy``: what fetching a URL may do (default: public addresses only).
    ``columns``: which column holds which field (``worker.columns.parse_column_mapping``),
    for CSV and JSONL; a mapped column the header (or first JSONL object) lacks is an
    ``InputError``.
    Raises ``InputError`` here, before any row, when the source cannot be a feed."""
    if long_text not in ("truncate", "reject"):
        raise InputError(f"long_text must be 'truncate' or 'reject', not {long_text!r}")
    limits = _Limits(max_text_chars, long_text, dict(columns or {}))
    stream, name, fmt = _open(str(source), fmt, fetch_policy)
    try:
        if fmt == "rss":
            if limits.columns:
                raise InputError(f"{name}: --column applies to CSV and JSONL, not RSS/Atom")
            return _read_rss(stream, name, limits)
        lines = _Lines(stream, limits.line_bytes)
        if fmt == "jsonl":
            return _closing(stream, _read_jsonl(lines, name, limits))
        return _closing(stream, _read_csv(lines, name, limits, "\t" if fmt == "tsv" else ","))
    except BaseException:
        stream.close()
        raise


def _closing(stream: IO[bytes], items: Iterator[Item]) -> Iterator[Item]:
    try:
        yield from items
    finally:
        stream.close()


def _open(
    source: str, fmt: str | None, fetch_policy: FetchPolicy | None
) -> tuple[IO[bytes], str, str]:
    """The open byte stream, a name for messages, and the format."""
    if fmt is not None and fmt.lower() not in {*FORMATS.values(), "atom"}:
        raise InputError(f"unknown feed format {fmt!r}: use csv, tsv, jsonl or rss")
    if "://" in source:  # a URL: only http(s), checked and bounded by worker.fetch
        stream = fetch(source, fetch_policy)
        suffix = Path(urlparse(source).path).suffix.lower()
        source = mask_url(source)
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"no such file: {source}")
        if path.is_dir():
            raise InputError(f"{source} is a directory: give a feed file (CSV, JSONL, RSS)")
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror}") from None
        suffix = path.suffix.lower()
    head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    if not head.removeprefix(BOM).strip() and len(head) < SNIFF_BYTES:
        stream.close()
        raise InputError(f"{source} is empty")
    if fmt is None:
        first = head.removeprefix(BOM).lstrip()[:1]
        fmt = FORMATS.get(suffix) or {b"<": "rss", b"{": "jsonl", b"[": "jsonl"}.get(first, "csv")
    return stream, source, "rss" if fmt.lower() == "atom" else fmt.lower()


class _RecordTooLong(Exception):
    """A CSV record ran past ``line_bytes``: most likely a quote never closed."""


Line = tuple[int, str, str | None]  # (number, text, problem)


class _Lines:
    """Physical lines of a byte stream, decoded one at a time, numbered.

    A line that is not UTF-8, or longer than ``limit`` bytes, carries a problem
    (its row is rejected). Lines can be pushed back and parsed again: that is
    how a CSV quote left open costs its own line only."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream, self.limit, self.number = stream, limit, 0
        self.pushed: deque[Line] = deque()
        self.taken: list[Line] = []
        self.taken_chars = 0

    def read(self) -> Line | None:
        if self.pushed:
            return self.pushed.popleft()
        raw = self.stream.readline(self.limit + 1)
        if not raw:
            return None
        self.number += 1
        if len(raw) > self.limit:
            while raw and not raw.endswith(b"\n"):  # skip the rest, never holding it
                raw = self.stream.readline(1 << 16)
            return self.number, "\n", f"line longer than {self.limit} bytes"
        raw = raw.removeprefix(BOM) if self.number == 1 else raw
        try:
            return self.number, raw.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            problem = f"undecodable bytes (not UTF-8) at byte {exc.start}"
            return self.number, raw.decode("utf-8", "replace"), problem

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:  # csv.reader pulls one record's lines, no more
        line = self.read()
        if line is None:
            raise StopIteration
        self.taken.append(line)
        self.taken_chars += len(line[1])
        if self.taken_chars > self.limit and len(self.taken) > 1:
            raise _RecordTooLong
        return line[1]

    def take(self) -> list[Line]:
        """The lines read since the last call: the last record's."""
        taken, self.taken, self.taken_chars = self.taken, [], 0
        return taken

    def retry_after_first(self, taken: list[Line]) -> None:
        """Parse again every line of ``taken`` but its first."""
        self.pushed.extendleft(reversed(taken[1:]))


def _csv_records(lines: _Lines, delimiter: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(first line, fields, problem)`` per record; fields None when it is rejected.

    A record that cannot be parsed (quote never closed, text after a closing
    quote), or that spans lines with the wrong field count, rejects its first
    line only: the lines after it are parsed again."""
    expected: int | None = None
    while True:
        try:
            for fields in csv.reader(lines, delimiter=delimiter, strict=True):
                taken = lines.take()
                problem = next((p for _, _, p in taken if p), "")
                if expected is None and fields and not problem:
                    expected = len(fields)
                elif fields and expected is not None and len(fields) != expected:
                    problem = f"expected {expected} fields, found {len(fields)}"
                    if len(taken) > 1:
                        problem += " (a quote left open?)"
                        lines.retry_after_first(taken)
                yield taken[0][0], (None if problem else fields), problem
            return
        except (csv.Error, _RecordTooLong) as exc:
            taken = lines.take()
            if not taken:
                return
            if isinstance(exc, _RecordTooLong) or "field limit" in str(exc):
                reason = (
                    f"a field over {csv.field_size_limit()} characters, or a quote never closed"
                )
            else:
                reason = f"broken CSV quoting ({exc})"
            yield taken[0][0], None, reason
            lines.retry_after_first(taken)


def _read_csv(lines: _Lines, name: str, limits: _Limits, delimiter: str) -> Iterator[Item]:
    """Reads the header now (so a bad file fails at once) and returns the rows' iterator."""
    records = _csv_records(lines, delimiter)
    for line, header, problem in records:
        if problem:
            raise InputError(f"{name}: unreadable header on line {line}: {problem}")
        if header:
            break
    else:
        raise InputError(f"{name} is empty (no header row)")
    names = [h.strip().lower() for h in header]
    found = " ".join(", ".join(header).split())[:200] or "nothing"
    for column in limits.columns.values():
        if column not in names:
            raise InputError(f"{name}: no column {column!r} (--column); found {found}")
    if "text" not in limits.columns and not any(c in names for c in TEXT_COLUMNS):
        raise InputError(
            f"{name}: no text column (expected one of {', '.join(TEXT_COLUMNS)}, "
            f"or name it with --column text=HEADER; found {found})"
        )

    def rows() -> Iterator[Item]:
        yield from _unused_notices(names, "columns", limits)
        number = 0  # records, the header not counted: see the module
        for line, fields, problem in records:
            if fields == []:  # a blank line
                continue
            number += 1
            if fields is None:
                where = f" (file line {line})" if line != number else ""
                yield Rejected(number, problem + where)
            else:
                row = dict(zip(reversed(names), reversed(fields), strict=True))
                yield from _row(number, row, limits)

    return rows()


def _unused_notices(names: list[str], kind: str, limits: _Limits) -> Iterator[Notice]:
    used = used_names(limits.columns)
    unknown = [n for n in dict.fromkeys(names) if n not in used and n not in LABEL_COLUMNS]
    labels = [n for n in dict.fromkeys(names) if n in LABEL_COLUMNS and n not in used]
    if unknown:
        yield Notice(None, f"ignored unknown {kind}: " + " ".join(", ".join(unknown).split())[:500])
    if labels:
        yield Notice(
            None, f"ignored {', '.join(labels)}: newsclf predicts labels, it does not read them"
        )


def _read_jsonl(lines: _Lines, name: str, limits: _Limits) -> Iterator[Item]:
    """Checks the first object against the ``--column`` mapping now (a mapped field it
    lacks is an ``InputError``) and returns the rows' iterator."""
    objects = _json_objects(lines)
    first = next(objects, None)
    if first is not None and isinstance(first[1], dict):
        for path in limits.columns.values():
            if not dig(_lower_keys(first[1]), path)[0]:
                raise InputError(
                    f"{name}: the first object (line {first[0]}) has no field {path!r} (--column)"
                )

    def rows() -> Iterator[Item]:
        seen: dict[str, None] = {}  # every field name, for one notice at the end
        for number, (line, obj) in enumerate(itertools.chain([first] if first else [], objects), 1):
            if isinstance(obj, str):
                yield Rejected(number, obj + (f" (file line {line})" if line != number else ""))
                continue
            fields = _lower_keys(obj)
            if len(seen) < 100:
                seen.update(dict.fromkeys(fields))
            yield from _row(number, fields, limits)
        yield from _unused_notices(list(seen), "fields", limits)

    return rows()


def _json_objects(lines: _Lines) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(line, object)`` per non-blank line, or ``(line, why it is not one)``."""
    while (read := lines.read()) is not None:
        line, raw, problem = read
        if problem:
            yield line, problem
            continue
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield line, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        except (ValueError, RecursionError) as exc:
            yield line, f"not valid JSON ({type(exc).__name__})"
            continue
        if not isinstance(obj, dict):
            yield line, f"not a JSON object (found {type(obj).__name__})"
            continue
        yield line, obj


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k.strip().lower(): v for k, v in reversed(obj.items())}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _row(
    line: int, fields: Mapping[str, Any], limits: _Limits, *, clean: bool = True
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
    used = used_names(columns)
    extra = {k: v for k, v in fields.items() if k not in used}
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


def _read_rss(stream: IO[bytes], name: str, limits: _Limits) -> Iterator[Item]:
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
            yield from _row(position, _entry_fields(entry), limits, clean=False)

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
