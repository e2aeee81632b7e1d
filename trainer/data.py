"""Labeled data: read a CSV or JSONL file, drop duplicates, split it.

A file is read as a stream, one record at a time. Records with no text, no
label or bytes that are not UTF-8 are skipped and counted (with the line
numbers of the first few), never fatal; a file with no usable record is::

    data = read_labeled("bbc-text.csv")                  # CSV: category,text
    data = read_labeled("feed.jsonl")                     # JSONL: {"label":..,"text":..}
    data = read_labeled("x.csv", text_column="body", label_column="topic")
    data = labeled_rows([("sport", "..."), ("tech", "...")], name="retrain run 3")
    data, n_dup = drop_duplicates(data)                   # exact same text: keep the first
    train_idx, test_idx = stratified_split(data.labels, portion=0.8, seed=42)
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from newsclf.errors import InputError

CSV_COLUMNS = ("category", "text")
"""The tutorial's CSV header: (label column, text column)."""

JSONL_KEYS = ("label", "text")
"""Keys of a JSONL record: (label key, text key)."""

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
"""File name endings read as JSON Lines; anything else is CSV unless it starts with '{'."""

REPORTED_LINES = 10
"""How many skipped line numbers a report keeps."""

CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)
"""Longest CSV field read from a training file (an article may exceed csv's 128 KiB default).
Raised only while a training file is read (``_csv_field_limit``), never for the process."""

_limit_lock = threading.Lock()
_limit_users = 0
_limit_before = 0


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """csv's field limit (one per process) raised to ``limit`` while the block runs;
    the first reader in saves the old value, the last one out puts it back."""
    global _limit_users, _limit_before
    with _limit_lock:
        if _limit_users == 0:
            _limit_before = csv.field_size_limit(limit)
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                csv.field_size_limit(_limit_before)


@dataclass
class LabeledData:
    """Usable records of one file, in file order, and what was skipped on the way."""

    path: Path
    texts: list[str]
    labels: list[str]
    lines: list[int]
    sha256: str
    skipped: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int] | np.ndarray) -> LabeledData:
        """The records at ``indices``, in that order (skip counts are kept)."""
        return replace(
            self,
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            lines=[self.lines[i] for i in indices],
        )

    def skip_summary(self) -> str:
        """'12 rows skipped (no text: 10, no label: 2), lines 4, 9, ...' or ''."""
        if not self.skipped:
            return ""
        reasons = ", ".join(f"{why}: {n}" for why, n in sorted(self.skip_reasons.items()))
        lines = ", ".join(map(str, self.skipped_lines))
        more = ", ..." if self.skipped > len(self.skipped_lines) else ""
        return f"{self.skipped} rows skipped ({reasons}), lines {lines}{more}"


def read_labeled(
    path: str | Path, *, text_column: str | None = None, label_column: str | None = None
) -> LabeledData:
    """Read a labeled CSV (header row) or JSONL file; raise InputError if nothing is usable.

    Column names default to ``category``/``text`` for CSV and ``label``/``text``
    for JSONL. The file's sha256 is computed from the bytes as they stream by.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such data file: {path}")
    jsonl = _is_jsonl(path)
    label_key = label_column or (JSONL_KEYS if jsonl else CSV_COLUMNS)[0]
    text_key = text_column or (JSONL_KEYS if jsonl else CSV_COLUMNS)[1]
    with path.open("rb") as raw:
        return _read(raw, path, jsonl=jsonl, label_key=label_key, text_key=text_key)


def labeled_rows(rows: Iterable[tuple[str, str]], *, name: str) -> LabeledData:
    """``(label, text)`` rows held in memory, read as ``read_labeled`` reads the
    ``category,text`` CSV file that holds them (``csv.writer``, UTF-8): the same
    records kept and skipped, the same line numbers and the same sha256 (that of
    the file's bytes), without writing the file. ``name`` stands for the path."""
    return _read(_csv_lines(rows), Path(name), jsonl=False, label_key="category", text_key="text")


def _csv_lines(rows: Iterable[tuple[str, str]]) -> Iterator[bytes]:
    """The lines of the CSV file of ``rows``, as iterating the file opened "rb" gives them."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for label, text in rows:
        writer.writerow([label, text])
        # Each row ends with the writer's "\r\n": a row's lines never straddle two rows.
        yield from io.BytesIO(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    yield from io.BytesIO(buffer.getvalue().encode("utf-8"))


def _read(
    raw: Iterable[bytes], path: Path, *, jsonl: bool, label_key: str, text_key: str
) -> LabeledData:
    """The usable records of the byte lines ``raw`` (a file's, or ``_csv_lines``)."""
    digest = hashlib.sha256()
    data = LabeledData(path=path, texts=[], labels=[], lines=[], sha256="")
    reasons: Counter[str] = Counter()
    with _csv_field_limit(CSV_FIELD_LIMIT):
        lines = _decoded_lines(raw, digest)
        records = _jsonl_records(lines, label_key, text_key) if jsonl else _csv_records(
            lines, label_key, text_key, path
        )
        for line, label, text, problem in records:
            if problem is None and _undecodable(label, text):
                problem = "undecodable bytes"
            if problem is None and not text.strip():
                problem = "no text"
            if problem is None and not label.strip():
                problem = "no label"
            if problem is not None:
                reasons[problem] += 1
                data.skipped += 1
                if len(data.skipped_lines) < REPORTED_LINES:
                    data.skipped_lines.append(line)
                continue
            data.texts.append(text)
            data.labels.append(label.strip())
            data.lines.append(line)
    data.sha256 = digest.hexdigest()
    data.skip_reasons = dict(reasons)
    if not data.texts:
        detail = f"; {data.skip_summary()}" if data.skipped else ""
        raise InputError(
            f"no usable labeled row in {path} (expected {label_key!r} and {text_key!r}){detail}"
        )
    return data


def drop_duplicates(data: LabeledData, *, also_in: Sequence[str] = ()) -> tuple[LabeledData, int]:
    """Keep the first record of every exact text, and none whose text is in ``also_in``.

    ``also_in`` is an external test set's texts, so that no test article sits in training.
    """
    seen = set(also_in)
    keep = []
    for i, text in enumerate(data.texts):
        if text not in seen:
            seen.add(text)
            keep.append(i)
    return data.subset(keep), len(data) - len(keep)


def stratified_split(
    labels: Sequence[str], portion: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (first, second): about ``portion`` of every label first, shuffled by ``seed``.

    A label with two or more records has at least one on each side.
    """
    if not 0 < portion < 1:
        raise InputError(f"split portion must be between 0 and 1, got {portion}")
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    first: list[int] = []
    second: list[int] = []
    for label in sorted(by_label):
        idx = rng.permutation(by_label[label])
        n = len(idx)
        k = n if n < 2 else min(max(round(n * portion), 1), n - 1)
        first.extend(idx[:k])
        second.extend(idx[k:])
    return rng.permutation(np.array(first, dtype=np.int64)), rng.permutation(
        np.array(second, dtype=np.int64)
    )


def _is_jsonl(path: Path) -> bool:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    with path.open("rb") as f:
        return f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _decoded_lines(raw: Iterable[bytes], digest: Any) -> Iterator[str]:
    """Text lines; bytes that are not UTF-8 become lone surrogates, caught per record."""
    for i, line in enumerate(raw):
        digest.update(line)
        if i == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield line.decode("utf-8", errors="surrogateescape")


def _undecodable(*values: str) -> bool:
    return any(any("\udc80" <= ch <= "\udcff" for ch in v) for v in values)


Record = tuple[int, str, str, str | None]  # line, label, text, problem (None: usable)


def _csv_records(lines: Iterator[str], label_key: str, text_key: str, path: Path) -> Iterator[Record]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{path} is empty")
    header = [h.strip() for h in header]
    missing = [k for k in (label_key, text_key) if k not in header]
    if missing:
        raise InputError(
            f"{path} has no column {', '.join(map(repr, missing))} (header: {', '.join(header)});"
            " choose columns with --text-column/--label-column"
        )
    li, ti = header.index(label_key), header.index(text_key)
    start = reader.line_num + 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not row:
            continue  # a blank line is not a record
        label = row[li] if li < len(row) else ""
        text = row[ti] if ti < len(row) else ""
        yield line, label, text, None


def _jsonl_records(lines: Iterator[str], label_key: str, text_key: str) -> Iterator[Record]:
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield line_no, "", "", "undecodable bytes" if _undecodable(line) else "not JSON"
            continue
        except RecursionError:  # [[[[...]]]] deeper than the interpreter's stack
            yield line_no, "", "", "nested too deeply"
            continue
        if not isinstance(obj, dict):
            yield line_no, "", "", "not an object"
            continue
        label, text = obj.get(label_key), obj.get(text_key)
        label = "" if label is None or isinstance(label, (dict, list)) else str(label)
        text = text if isinstance(text, str) else ""
        yield line_no, label, text, None
