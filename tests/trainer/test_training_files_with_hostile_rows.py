"""A training file's hostile rows cost only themselves: a JSONL line nested deeper
than Python's stack is one rejected row, and reading a CSV raises csv's field limit
only while the file is read, never for the whole process."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from newsclf.trainer.data import read_labeled


def test_a_deeply_nested_jsonl_row_is_rejected_and_the_rest_is_read(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    deep = "[" * 200_000 + "]" * 200_000
    data.write_text(
        '{"label": "sport", "text": "a goal"}\n'
        f'{{"label": {deep}, "text": "x"}}\n'
        f"{deep}\n"
        '{"label": "business", "text": "shares fell"}\n'
    )
    read = read_labeled(data)
    assert read.labels == ["sport", "business"] and read.lines == [1, 4]
    assert read.skipped == 2 and read.skip_reasons == {"nested too deeply": 2}


def test_reading_a_csv_raises_the_field_limit_only_while_it_reads(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    long_text = "word " * 60_000  # 300,000 characters: over csv's default limit
    with data.open("w", newline="") as f:
        csv.writer(f).writerows([["category", "text"], ["sport", long_text], ["tech", "chips"]])
    probe = (
        "import csv, sys\n"
        "before = csv.field_size_limit()\n"
        "import trainer.data\n"
        "imported = csv.field_size_limit()\n"
        f"read = trainer.data.read_labeled({str(data)!r})\n"
        "print(before, imported, csv.field_size_limit(), len(read.texts), len(read.texts[0]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    before, imported, after, n, longest = map(int, out.stdout.split())
    assert imported == before and after == before  # the process keeps csv's default
    assert n == 2 and longest == len(long_text)  # while reading, the long field was fine
