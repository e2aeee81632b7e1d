"""``--column FIELD=HEADER``: a CSV with unusual headers and a nested JSONL are
read through the mapping; an unknown field or a missing column is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from services import newsclf_cmd

from newsclf.errors import InputError
from newsclf.worker.columns import parse_column_mapping
from newsclf.worker.ingest import FeedRow, Notice, read_feed


def rows(path: Path, *pairs: str) -> list[FeedRow]:
    mapping = parse_column_mapping(pairs)
    return [
        i for i in read_feed(path, max_text_chars=1000, columns=mapping) if isinstance(i, FeedRow)
    ]


def test_a_csv_with_its_own_headers_is_read_through_the_mapping(tmp_path: Path) -> None:
    path = tmp_path / "stories.csv"
    path.write_text(
        "Heading,Story,Permalink,Ref,When,Outlet\n"
        "Rates held,The bank kept rates,http://x/1,r1,2024-05-01,Wire\n"
    )
    with pytest.raises(InputError, match="no text column"):
        read_feed(path, max_text_chars=1000)
    [row] = rows(
        path, "text=story", "title=Heading", "url=permalink", "id=ref", "published=when",
        "source=outlet",
    )  # fmt: skip
    assert (row.title, row.text, row.url, row.external_id, row.source) == (
        "Rates held", "Rates held. The bank kept rates", "http://x/1", "r1", "Wire",
    )  # fmt: skip
    assert row.published_at is not None and row.published_at.year == 2024


def test_a_mapped_column_replaces_the_alias(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("text,lede\nthe usual column,the one asked for\n")
    [row] = rows(path, "text=lede")
    assert row.text == "the one asked for"
    notes = [str(i) for i in read_feed(path, max_text_chars=1000, columns={"text": "lede"})]
    assert any("ignored unknown columns: text" in n for n in notes)


def test_a_nested_jsonl_is_read_through_dotted_paths(tmp_path: Path) -> None:
    path = tmp_path / "nested.jsonl"
    objects = [
        {"meta": {"Headline": "Cup final", "link": "http://x/2"}, "content": {"body": "Two goals"}},
        {"meta": {"headline": "No body"}, "content": {}},
        {"meta": {"headline": "Bad body"}, "content": {"body": 7}},
    ]
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    items = list(
        read_feed(
            path,
            max_text_chars=1000,
            columns=parse_column_mapping(
                ["text=content.body", "title=meta.headline", "url=meta.link"]
            ),
        )
    )
    good = [i for i in items if isinstance(i, FeedRow)]
    assert [(r.line, r.title, r.text, r.url) for r in good] == [
        (1, "Cup final", "Cup final. Two goals", "http://x/2"),
        (2, "No body", "No body", None),
    ]
    assert not [i for i in items if isinstance(i, Notice) and "unknown" in str(i)]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["colour=red"], "unknown field 'colour'"),
        (["text"], "write FIELD=HEADER"),
        (["text=a", "text=b"], "given twice"),
    ],
)
def test_a_bad_mapping_is_one_input_error(pairs: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_column_mapping(pairs)


def test_a_mapped_column_that_is_not_there_fails_before_any_row(tmp_path: Path) -> None:
    csv_path = tmp_path / "f.csv"
    csv_path.write_text("text\nhello\n")
    with pytest.raises(InputError, match="no column 'story'"):
        read_feed(csv_path, max_text_chars=1000, columns={"text": "story"})
    jsonl = tmp_path / "f.jsonl"
    jsonl.write_text('{"text": "hello"}\n')
    with pytest.raises(InputError, match="has no field 'a.b'"):
        read_feed(jsonl, max_text_chars=1000, columns={"text": "a.b"})


@pytest.mark.parametrize(
    ("column", "words"),
    [("colour=red", "unknown field 'colour'"), ("text=story", "no column 'story'")],
)
def test_the_cli_says_a_bad_column_in_one_line_and_exits_2(
    tmp_path: Path, redis_url: str, column: str, words: str
) -> None:
    feed = tmp_path / "f.csv"
    feed.write_text("heading,body\nT,some text\n")
    env = {
        **os.environ,
        "NEWSCLF_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
        "NEWSCLF_BROKER_URL": redis_url,
        "NEWSCLF_BROKER_RETRY_S": "0",
    }
    upgraded = subprocess.run(newsclf_cmd("db", "upgrade"), env=env, cwd=tmp_path, timeout=120)
    assert upgraded.returncode == 0
    for command in ("enqueue", "run"):  # run: before it trains a first model
        done = subprocess.run(
            newsclf_cmd(command, str(feed), "--column", column),
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ") and words in lines[0]
