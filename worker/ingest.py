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
refuses entity declarations (``worker.rss``). URLs are fetched by ``worker.fetch``;
the checks every format shares are ``worker.rows.make_row``.

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

Long because the three formats share one module: the item types, the line
numbering and the opening checks; what differs per format is in ``worker.rss``,
``worker.fetch``, ``worker.rows`` and ``worker.columns``.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from newsclf.errors import InputError
from newsclf.schema.articles import content_sha256
from newsclf.worker.columns import LABEL_COLUMNS, dig
from newsclf.worker.fetch import FetchPolicy, fetch, mask_feed_url
from newsclf.worker.normalize import strip_html
from newsclf.worker.rows import (
    MAX_ID_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    TEXT_COLUMNS,
    FeedRow,
    Item,
    Limits,
    Notice,
    Rejected,
    make_row,
    parse_published,
)
from newsclf.worker.rss import MAX_DOCUMENT_BYTES, read_rss

__all__ = [
    "MAX_DOCUMENT_BYTES", "MAX_ID_CHARS", "MAX_TITLE_CHARS", "MAX_URL_CHARS", "FeedRow", "Item",
    "Notice", "Rejected", "content_sha256", "parse_published", "read_feed", "strip_html",
]  # fmt: skip

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".rss": "rss", ".xml": "rss", ".atom": "rss"}  # fmt: skip
"""Formats known by extension; other files are sniffed from their first byte."""

SNIFF_BYTES = 4096
BOM = b"\xef\xbb\xbf"


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
    limits = Limits(max_text_chars, long_text, dict(columns or {}))
    stream, name, fmt = _open(str(source), fmt, fetch_policy)
    try:
        if fmt == "rss":
            if limits.columns:
                raise InputError(f"{name}: --column applies to CSV and JSONL, not RSS/Atom")
            return read_rss(stream, name, limits)
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
        source = mask_feed_url(source)
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


def _read_csv(lines: _Lines, name: str, limits: Limits, delimiter: str) -> Iterator[Item]:
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
                yield from make_row(number, row, limits)

    return rows()


def _unused_notices(names: list[str], kind: str, limits: Limits) -> Iterator[Notice]:
    used = limits.used
    unknown = [n for n in dict.fromkeys(names) if n not in used and n not in LABEL_COLUMNS]
    labels = [n for n in dict.fromkeys(names) if n in LABEL_COLUMNS and n not in used]
    if unknown:
        yield Notice(None, f"ignored unknown {kind}: " + " ".join(", ".join(unknown).split())[:500])
    if labels:
        yield Notice(
            None, f"ignored {', '.join(labels)}: newsclf predicts labels, it does not read them"
        )


def _read_jsonl(lines: _Lines, name: str, limits: Limits) -> Iterator[Item]:
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
            yield from make_row(number, fields, limits)
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
