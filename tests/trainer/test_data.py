"""Reading labeled files, dropping duplicates, splitting."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from newsclf.errors import InputError
from newsclf.trainer.data import drop_duplicates, labeled_rows, read_labeled, stratified_split


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_a_csv_with_bad_rows_keeps_the_good_ones_and_reports_the_rest(tmp_path: Path) -> None:
    raw = (
        b"category,text\n"
        b"sport,a good match\n"
        b",no label here\n"
        b"tech,\n"
        b"business,\"a quoted\nmulti-line text\"\n"
        b"tech,caf\xe9 bytes that are not utf-8\n"
        b"\n"
        b"politics,the last one\n"
    )
    data = read_labeled(write(tmp_path / "x.csv", raw))
    assert data.labels == ["sport", "business", "politics"]
    assert data.texts[1] == "a quoted\nmulti-line text"
    assert data.lines == [2, 5, 9]
    assert data.skipped == 3
    assert data.skipped_lines == [3, 4, 7]
    assert data.skip_reasons == {"no label": 1, "no text": 1, "undecodable bytes": 1}
    assert "3 rows skipped" in data.skip_summary()


def test_the_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    import hashlib

    raw = b"category,text\nsport,goal\n"
    assert read_labeled(write(tmp_path / "x.csv", raw)).sha256 == hashlib.sha256(raw).hexdigest()


def test_jsonl_records_are_read_and_bad_lines_skipped(tmp_path: Path) -> None:
    lines = [
        json.dumps({"label": "sport", "text": "a goal"}),
        "not json at all",
        json.dumps(["a", "list"]),
        json.dumps({"label": "tech"}),
        "",
        json.dumps({"label": 3, "text": "numbers become label strings"}),
    ]
    data = read_labeled(write(tmp_path / "feed.jsonl", "\n".join(lines) + "\n"))
    assert data.labels == ["sport", "3"]
    assert data.lines == [1, 6]
    assert data.skip_reasons == {"not JSON": 1, "not an object": 1, "no text": 1}


def test_a_json_lines_file_is_recognised_without_its_suffix(tmp_path: Path) -> None:
    data = read_labeled(write(tmp_path / "feed.txt", '{"label": "a", "text": "b"}\n'))
    assert data.labels == ["a"]


def test_custom_columns_and_keys_are_used(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "x.csv", "id,topic,body\n1,sport,goal\n")
    assert read_labeled(csv_path, text_column="body", label_column="topic").texts == ["goal"]
    jsonl = write(tmp_path / "x.jsonl", '{"topic": "sport", "body": "goal"}\n')
    assert read_labeled(jsonl, text_column="body", label_column="topic").labels == ["sport"]


def test_a_missing_column_names_the_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no column 'category'.*header: label, text"):
        read_labeled(write(tmp_path / "x.csv", "label,text\nsport,goal\n"))


@pytest.mark.parametrize(
    "content", ["category,text\n", "category,text\n,\nsport,\n", "", '{"text": "no label"}\n']
)
def test_a_file_with_no_usable_row_is_one_input_error(tmp_path: Path, content: str) -> None:
    with pytest.raises(InputError) as err:
        read_labeled(write(tmp_path / "x.csv", content))
    assert "\n" not in str(err.value)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such data file"):
        read_labeled(tmp_path / "nope.csv")


def test_duplicates_are_dropped_keeping_the_first_and_the_test_texts(tmp_path: Path) -> None:
    data = read_labeled(write(tmp_path / "x.csv", "category,text\na,one\nb,two\na,one\nc,three\n"))
    kept, dropped = drop_duplicates(data)
    assert kept.texts == ["one", "two", "three"] and dropped == 1
    kept, dropped = drop_duplicates(data, also_in=["two"])
    assert kept.texts == ["one", "three"] and dropped == 2


def test_the_split_is_stratified_seeded_and_leaks_no_duplicate(bbc_csv: Path) -> None:
    data, dropped = drop_duplicates(read_labeled(bbc_csv))
    assert dropped == 99 and len(data) == 2126
    train, test = stratified_split(data.labels, portion=0.8, seed=7)
    assert len(set(train) | set(test)) == len(data) and not set(train) & set(test)
    assert not {data.texts[i] for i in train} & {data.texts[i] for i in test}
    labels = np.array(data.labels)
    for label in set(data.labels):
        share = np.mean(labels[train] == label) - np.mean(labels == label)
        assert abs(share) < 0.01
    again, _ = stratified_split(data.labels, portion=0.8, seed=7)
    assert np.array_equal(train, again)
    other, _ = stratified_split(data.labels, portion=0.8, seed=8)
    assert not np.array_equal(np.sort(train), np.sort(other))


def test_every_label_with_two_records_lands_on_both_sides() -> None:
    first, second = stratified_split(["a", "a", "b", "c", "c", "c"], portion=0.9, seed=0)
    labels = ["a", "a", "b", "c", "c", "c"]
    assert {labels[i] for i in second} == {"a", "c"}
    assert {labels[i] for i in first} == {"a", "b", "c"}


TRICKY_ROWS = [
    ("sport", "a plain text"),
    ("tech", 'commas, "quotes" and\na line break'),
    ("business", "a carriage\r\nreturn pair and a lone\rone"),
    ("", "no label here"),
    ("tech", "   "),
    (" politics ", "a label with spaces, non-ASCII: caf\u00e9 \u2014 \U0001f600"),
    ("sport", "a plain text"),  # a duplicate is still read (drop_duplicates drops it)
]


def test_rows_in_memory_read_as_the_csv_file_of_the_same_rows(tmp_path: Path) -> None:
    # The file the retraining wrote before it trained from memory: category,text, UTF-8.
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["category", "text"])
        writer.writerows(TRICKY_ROWS)
    from_file = read_labeled(path)
    in_memory = labeled_rows(iter(TRICKY_ROWS), name="retrain run 1: training set")
    assert in_memory.sha256 == from_file.sha256  # data.json's sha256, the registry's data_sha256
    assert (in_memory.texts, in_memory.labels, in_memory.lines) == (
        from_file.texts, from_file.labels, from_file.lines,
    )  # fmt: skip
    assert (in_memory.skipped, in_memory.skipped_lines, in_memory.skip_reasons) == (
        from_file.skipped, from_file.skipped_lines, from_file.skip_reasons,
    )  # fmt: skip
    assert str(in_memory.path) == "retrain run 1: training set"


def test_rows_in_memory_with_nothing_usable_are_an_input_error() -> None:
    with pytest.raises(InputError, match="no usable labeled row"):
        labeled_rows([("", "no label"), ("sport", " ")], name="empty")
