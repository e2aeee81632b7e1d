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
document is parsed whole (at most ``MAX_DOCUMENT_BYTES``). ``line`` is the
physical line (the CSV header is line 1); for RSS/Atom, the item's position.

Decisions: the text to classify is, for CSV and JSONL, the text column as given
(the title is kept apart); for RSS/Atom, ``title + ". " + summary`` (or the
content, when longer), HTML stripped, since a summary alone is short. NUL
characters are removed, with a note (PostgreSQL refuses them). A text over
``max_text_chars`` is cut (with a note) or rejected, per ``long_text``; a
physical line over ``4 * max_text_chars + 1 MiB`` bytes, or a CSV field over
the csv module's 131,072 characters, is rejected either way. A date that cannot
be read leaves ``published_at`` None, with a note; naive dates are UTC.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import email.utils
import json
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from newsclf.errors import InputError
from schema.store import content_sha256  # the dedup key, re-exported for feed code
from worker.fetch import MAX_BODY_BYTES, FetchPolicy, fetch, mask_url

__all__ = ["FeedRow", "Notice", "Rejected", "content_sha256", "read_feed", "strip_html"]

TEXT_COLUMNS = ("text", "content", "body", "article", "summary", "description")
"""Candidate text columns (case-insensitive), in order: the first present is used."""
ROLES = {
    "external_id": ("external_id", "id", "guid"),
    "title": ("title", "headline"),
    "url": ("url", "link"),
    "published": ("published_at", "published", "date", "pubdate"),
}
"""Optional columns, each with its candidate names in order."""
LABEL_COLUMNS = ("category", "label")
"""Columns of labeled data: not used (newsclf predicts labels), noted once."""
KNOWN = {*TEXT_COLUMNS, *(name for names in ROLES.values() for name in names)}

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
) -> Iterator[Item]:
    """The rows of the feed at ``source`` (a path or an http(s) URL), streamed.

    ``fmt``: csv, tsv, jsonl, rss or atom; None: by extension, else sniffed.
    ``fetch_policy``: what fetching a URL may do (default: public addresses only).
    Raises ``InputError`` here, before any row, when the source cannot be a feed."""
    if long_text not in ("truncate", "reject"):
        raise InputError(f"long_text must be 'truncate' or 'reject', not {long_text!r}")
    limits = _Limits(max_text_chars, long_text)
    stream, name, fmt = _open(str(source), fmt, fetch_policy)
    try:
        if fmt == "rss":
            return _read_rss(stream, name, limits)
        lines = _Lines(stream, limits.line_bytes)
        if fmt == "jsonl":
            return _closing(stream, _read_jsonl(lines, limits))
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
            problem = f"undecodable bytes (not UTF-8) on line {self.number} at byte {exc.start}"
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
    if not any(c in names for c in TEXT_COLUMNS):
        found = " ".join(", ".join(header).split())[:200] or "nothing"
        raise InputError(
            f"{name}: no text column (expected one of {', '.join(TEXT_COLUMNS)}; found {found})"
        )

    def rows() -> Iterator[Item]:
        yield from _unused_notices(names, "columns")
        for line, fields, problem in records:
            if fields is None:
                yield Rejected(line, problem)
            elif fields:  # else a blank line
                yield from _row(
                    line, dict(zip(reversed(names), reversed(fields), strict=True)), limits
                )

    return rows()


def _unused_notices(names: list[str], kind: str) -> Iterator[Notice]:
    unknown = [n for n in dict.fromkeys(names) if n not in KNOWN and n not in LABEL_COLUMNS]
    labels = [n for n in dict.fromkeys(names) if n in LABEL_COLUMNS]
    if unknown:
        yield Notice(None, f"ignored unknown {kind}: " + " ".join(", ".join(unknown).split())[:500])
    if labels:
        yield Notice(
            None, f"ignored {', '.join(labels)}: newsclf predicts labels, it does not read them"
        )


def _read_jsonl(lines: _Lines, limits: _Limits) -> Iterator[Item]:
    seen: dict[str, None] = {}  # every field name, for one notice at the end
    while (read := lines.read()) is not None:
        line, raw, problem = read
        if problem:
            yield Rejected(line, problem)
            continue
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield Rejected(line, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except (ValueError, RecursionError) as exc:
            yield Rejected(line, f"not valid JSON ({type(exc).__name__})")
            continue
        if not isinstance(obj, dict):
            yield Rejected(line, f"not a JSON object (found {type(obj).__name__})")
            continue
        fields = {k.strip().lower(): v for k, v in reversed(obj.items())}
        if len(seen) < 100:
            seen.update(dict.fromkeys(fields))
        yield from _row(line, fields, limits)
    yield from _unused_notices(list(seen), "fields")


def _pick(fields: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return next((fields[n] for n in names if n in fields), None)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _row(line: int, fields: Mapping[str, Any], limits: _Limits) -> Iterator[Item]:
    """The checks every format shares: a good row (after its notices), or one rejection."""
    text = _pick(fields, TEXT_COLUMNS)
    if not isinstance(text, str):
        reason = "no text field" if text is None else "the text field is not a string"
        yield Rejected(line, f"{reason} (expected one of {', '.join(TEXT_COLUMNS)})")
        return
    values = {"text": text} | {role: _text(_pick(fields, names)) for role, names in ROLES.items()}
    published = _pick(fields, ROLES["published"])
    notes = []
    if any("\x00" in v for v in values.values() if v):
        values = {k: v.replace("\x00", "") if v else v for k, v in values.items()}
        notes.append("NUL characters removed")
    for key, value in values.items():
        if value and not _is_valid_unicode(value):
            yield Rejected(line, f"{key} holds invalid Unicode (a lone surrogate)")
            return
    text = values.pop("text") or ""
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
    yield from (Notice(line, note) for note in notes)
    title, external_id, url = (
        (values[k] or "").strip() or None for k in ("title", "external_id", "url")
    )
    extra = {k: v for k, v in fields.items() if k not in KNOWN}
    yield FeedRow(line, text, title, external_id, url, published_at, extra)


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
        import html

        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return " ".join(text.split())


def _read_rss(stream: IO[bytes], name: str, limits: _Limits) -> Iterator[Item]:
    """Parses the whole document now (a bad feed fails at once); yields items lazily."""
    import feedparser

    try:
        if stream.seekable() and stream.seek(0, 2) > MAX_DOCUMENT_BYTES:
            raise InputError(f"{name}: feed larger than {MAX_DOCUMENT_BYTES} bytes")
        stream.seek(0)
        feed = feedparser.parse(stream, resolve_relative_uris=False, sanitize_html=False)
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
            yield from _row(position, _entry_fields(entry), limits)

    return items()


def _entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An RSS/Atom item as row fields: text is title + ". " + the longer of summary/content."""
    title = strip_html(entry.get("title") or "")
    summary = strip_html(entry.get("summary") or "")
    content = " ".join(strip_html(c.get("value") or "") for c in entry.get("content") or [])
    body = content if len(content) > len(summary) else summary
    if title and body and not body.startswith(title):
        text = title + ("" if title[-1] in ".!?:" else ".") + " " + body
    else:
        text = body or title
    published: Any = entry.get("published") or entry.get("updated")
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if parsed:
        try:
            published = dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            pass
    return {"text": text, "title": title, "id": entry.get("id"), "link": entry.get("link"),
            "published": published}  # fmt: skip
