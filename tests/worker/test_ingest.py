"""Feed readers: good rows go through, each bad row gets a reason and a line,
a file that cannot be a feed is one InputError, and no input raises anything else."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsclf.errors import InputError
from newsclf.worker.fetch import FetchPolicy
from newsclf.worker.ingest import (
    FeedRow,
    Notice,
    Rejected,
    content_sha256,
    parse_published,
    read_feed,
    strip_html,
)

MAX = 1000


def read(path: Path, max_text_chars: int = MAX, **kwargs: Any) -> list[FeedRow | Rejected | Notice]:
    items = list(read_feed(path, max_text_chars=max_text_chars, **kwargs))
    for item in items:
        if isinstance(item, FeedRow):  # what every good row promises
            assert item.text.strip() and "\x00" not in item.text
            assert len(item.text) <= max_text_chars
            item.text.encode("utf-8")
    return items


def rows(items: list) -> list[FeedRow]:
    return [i for i in items if isinstance(i, FeedRow)]


def rejected(items: list) -> dict[int | None, str]:
    return {i.line: i.reason for i in items if isinstance(i, Rejected)}


def notices(items: list) -> list[str]:
    return [str(i) for i in items if isinstance(i, Notice)]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# -- CSV ----------------------------------------------------------------------


def test_a_csv_row_carries_its_text_title_id_url_and_date(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "f.csv",
        "\ufeffID,Title,Text,Link,Published\n7,Hi,Body text,http://x/7,2024-05-01T10:00:00+02:00\n",
    )
    [row] = read(path)
    assert (row.line, row.text, row.title, row.external_id, row.url) == (
        1, "Hi. Body text", "Hi", "7", "http://x/7",
    )  # fmt: skip
    assert row.published_at == dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize("column", ["content", "body", "article", "summary", "description"])
def test_the_text_column_may_have_any_of_the_usual_names(tmp_path: Path, column: str) -> None:
    [row] = read(write(tmp_path, "f.csv", f"title,{column}\nT,the text\n"))
    assert row.text == "T. the text"


def test_unknown_columns_are_ignored_and_said_so_and_label_columns_noted(
    tmp_path: Path,
) -> None:
    items = read(write(tmp_path, "f.csv", "category,text,colour,size\ntech,t,red,3\n"))
    assert "ignored unknown columns: colour, size" in notices(items)
    assert any("category" in n and "predicts labels" in n for n in notices(items))
    assert rows(items)[0].extra == {"category": "tech", "colour": "red", "size": "3"}


def test_the_bbc_file_reads_every_row_with_the_category_column_noted(bbc_csv: Path) -> None:
    items = read(bbc_csv, max_text_chars=100_000)
    assert len(rows(items)) == 2225 and not rejected(items)


def test_empty_and_whitespace_texts_are_rejected(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.csv", 'id,text\n1,\n2,"  \n\t "\n3,good\n'))
    assert rejected(items) == {1: "empty text", 2: "empty text"}
    assert [r.line for r in rows(items)] == [3]


def test_undecodable_bytes_reject_only_their_row_with_the_line(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.csv", b"id,text\n1,caf\xe9\n2,fine\n"))
    assert "not UTF-8" in rejected(items)[1] and "file line 2" in rejected(items)[1]
    assert [r.text for r in rows(items)] == ["fine"]


def test_a_row_with_the_wrong_field_count_is_rejected_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    items = read(write(tmp_path, "f.csv", "id,text\n1,a,extra\n2\n3,c\n"))
    assert rejected(items) == {
        1: "expected 2 fields, found 3 (file line 2)",
        2: "expected 2 fields, found 1 (file line 3)",
    }
    assert [r.text for r in rows(items)] == ["c"]


def test_a_quote_left_open_costs_only_its_own_line(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.csv", 'id,text\n1,"never closed\n2,b\n3,"x"y\n4,d\n'))
    assert set(rejected(items)) == {1, 3}
    assert "quot" in rejected(items)[1] or "end of data" in rejected(items)[1]
    assert [r.text for r in rows(items)] == ["b", "d"]


def test_a_quote_that_swallows_a_huge_file_is_bounded_and_reading_resumes(
    tmp_path: Path,
) -> None:
    body = "".join(f"{i},row {i}\n" for i in range(3, 30_003))
    items = read(write(tmp_path, "f.csv", 'id,text\n1,"open\n' + body))
    assert list(rejected(items)) == [1]
    assert len(rows(items)) == 30_000


def test_multi_line_quoted_texts_are_one_row(tmp_path: Path) -> None:
    [row] = read(write(tmp_path, "f.csv", 'id,text\n1,"line one\nline two"\n'))
    assert row.text == "line one line two"  # whitespace normalised, as in every format


def test_tab_separated_files_are_read(tmp_path: Path) -> None:
    [row] = read(write(tmp_path, "f.tsv", "title\ttext\nT\ta, b\n"))
    assert (row.title, row.text) == ("T", "T. a, b")


# -- checks every format shares ----------------------------------------------------


def test_an_over_long_text_is_truncated_with_a_note(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.csv", f"text\n{'x' * 50}\n"), max_text_chars=10)
    assert rows(items)[0].text == "x" * 10
    assert "line 1: text truncated from 50 to 10 characters" in notices(items)


def test_an_over_long_text_is_rejected_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path, "f.jsonl", '{"text": "%s"}\n' % ("x" * 50))
    items = read(path, max_text_chars=10, long_text="reject")
    assert rejected(items) == {1: "text too long (50 characters; limit 10)"}


def test_a_line_longer_than_the_byte_limit_is_rejected_without_being_held(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "f.jsonl", '{"text": "%s"}\n{"text": "ok"}\n' % ("x" * 1_200_000))
    items = read(path, max_text_chars=10)
    assert "longer than" in rejected(items)[1]
    assert [r.text for r in rows(items)] == ["ok"]


def test_nul_characters_are_removed_with_a_note(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.csv", "title,text\nT\x00,a\x00b\n"))
    assert (rows(items)[0].text, rows(items)[0].title) == ("T. ab", "T")
    assert "line 1: NUL characters removed" in notices(items)


def test_an_unreadable_date_keeps_the_row_and_is_noted(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.csv", "text,date\nhello,next tuesday\n"))
    assert rows(items)[0].published_at is None
    assert any("unreadable date" in n for n in notices(items))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        ("Wed, 01 May 2024 10:00:00 +0000", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        ("1714557600", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        (1714557600, dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        ("", None),
        (None, None),
    ],
)
def test_publish_dates_are_read_in_the_usual_formats(value: object, expected: object) -> None:
    assert parse_published(value) == expected


def test_the_content_hash_is_the_same_for_texts_differing_only_in_layout() -> None:
    assert content_sha256(" a\n\tb  ") == content_sha256("a b")


@given(st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x1c\x85\xa0\u2028\u3000\u200bab\u0301é")))
def test_the_content_hash_fast_path_agrees_with_the_definition(text: str) -> None:
    import hashlib
    import unicodedata

    normalized = " ".join(unicodedata.normalize("NFC", text).split())
    assert content_sha256(text) == hashlib.sha256(normalized.encode()).hexdigest()


def test_every_whitespace_character_but_the_space_is_unprintable() -> None:
    """What the hash's fast path relies on (``schema.articles._is_collapsed``)."""
    for code in range(0x110000):
        char = chr(code)
        assert not (char.isspace() and char != " " and char.isprintable()), hex(code)


# -- JSONL -------------------------------------------------------------------------


def test_jsonl_lines_that_are_not_objects_are_rejected_with_the_reason(tmp_path: Path) -> None:
    data = '{"text": "one", "id": 5}\n[1, 2]\n"str"\n{bad\n\n{"title": "t"}\n{"text": 3}\n'
    items = read(write(tmp_path, "f.jsonl", data))
    reasons = rejected(items)
    assert reasons[2] == "not a JSON object (found list)"
    assert reasons[3] == "not a JSON object (found str)"
    assert reasons[4].startswith("not valid JSON")
    assert "not a string" in reasons[6]  # (the blank line is not counted)
    # a title alone is an article, as an RSS item with no description is
    assert [(r.line, r.text, r.external_id) for r in rows(items)] == [
        (1, "one", "5"),
        (5, "t", None),
    ]


def test_jsonl_unknown_fields_are_ignored_and_said_so(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.jsonl", '{"body": "b", "x": 1}\n{"body": "c", "y": 2}\n'))
    assert "ignored unknown fields: x, y" in notices(items)


def test_a_lone_surrogate_is_rejected_not_stored(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.jsonl", '{"text": "bad \\ud800"}\n'))
    assert "invalid Unicode" in rejected(items)[1]


# -- RSS / Atom --------------------------------------------------------------------

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>
<item><title>Markets rally</title><description>&lt;p&gt;Shares &lt;b&gt;rose&lt;/b&gt;
&amp; more.&lt;script&gt;evil()&lt;/script&gt;&lt;/p&gt;</description><guid>g1</guid>
<link>http://x/1</link><pubDate>Wed, 01 May 2024 10:00:00 GMT</pubDate></item>
<item><title></title><description></description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>F</title><entry><title>Goal!</title><id>urn:1</id><updated>2024-05-01T10:00:00Z</updated>
<content type="html">&lt;p&gt;The full match report.&lt;/p&gt;</content></entry></feed>"""


def test_rss_items_are_title_and_summary_with_html_stripped(tmp_path: Path) -> None:
    items = read(write(tmp_path, "f.rss", RSS))
    [row] = rows(items)
    assert row.text == "Markets rally. Shares rose & more."
    assert (row.title, row.external_id, row.url) == ("Markets rally", "g1", "http://x/1")
    assert row.published_at == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    assert rejected(items) == {2: "empty text"}


def test_atom_entries_use_their_content(tmp_path: Path) -> None:
    [row] = rows(read(write(tmp_path, "f.atom", ATOM)))
    assert row.text == "Goal! The full match report."


@pytest.mark.parametrize("data", ["just words, not xml", "<html><body>hi</body></html>", "<a><b"])
def test_a_document_that_is_not_a_feed_is_one_input_error(tmp_path: Path, data: str) -> None:
    with pytest.raises(InputError, match="not an RSS/Atom feed"):
        read_feed(write(tmp_path, "f.rss", data), max_text_chars=MAX)


def test_a_malformed_feed_with_items_is_read_with_a_note(tmp_path: Path) -> None:
    broken = RSS.replace("</channel></rss>", "<oops></channel>")
    items = read(write(tmp_path, "f.xml", broken))
    assert len(rows(items)) == 1 and any("not well-formed" in n for n in notices(items))


def test_html_is_stripped_to_its_text() -> None:
    assert strip_html("<p>a<br>b &amp; <style>x{}</style>c</p>") == "a b & c"


# -- the file itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("dir", "DIR", "is a directory"),
        ("empty.csv", "", "is empty"),
        ("blank.jsonl", "\n  \n", "is empty"),
        ("notext.csv", "id,title\n1,t\n", "no text column"),
        ("feed.odt", "x", "unknown feed format"),
    ],
)
def test_a_file_that_cannot_be_a_feed_is_one_input_error_at_once(
    tmp_path: Path, name: str, data: str | None, message: str
) -> None:
    path = tmp_path / name
    if data == "DIR":
        path.mkdir()
    elif data is not None:
        path.write_text(data)
    fmt = "odt" if name.endswith(".odt") else None
    with pytest.raises(InputError, match=message) as info:
        read_feed(path, max_text_chars=MAX, fmt=fmt)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "kind"), [("text\nhello\n", "csv"), ('{"text": "hello"}\n', "jsonl"), (RSS, "rss")]
)
def test_the_format_is_sniffed_when_the_extension_says_nothing(
    tmp_path: Path, data: str, kind: str
) -> None:
    assert rows(read(write(tmp_path, "feed.txt", data)))


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a directory: (base URL, directory)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


LOCAL = FetchPolicy(allow_private=True)
"""The test servers listen on loopback (tests/reliability covers what is refused)."""


def test_feeds_are_fetched_from_http_urls(http_dir: tuple[str, Path]) -> None:
    base, directory = http_dir
    write(directory, "feed.rss", RSS)
    write(directory, "feed.csv", "text\nfrom the web\n")
    assert rows(read(f"{base}/feed.rss", fetch_policy=LOCAL))[0].title == "Markets rally"  # type: ignore[arg-type]
    assert rows(read(f"{base}/feed.csv", fetch_policy=LOCAL))[0].text == "from the web"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="HTTP 404"):
        read_feed(f"{base}/missing.rss", max_text_chars=MAX, fetch_policy=LOCAL)


def test_an_unreachable_url_is_one_input_error() -> None:
    with pytest.raises(InputError, match="cannot fetch"):
        read_feed("http://127.0.0.1:1/feed.rss", max_text_chars=MAX, fetch_policy=LOCAL)


# -- streaming ---------------------------------------------------------------------


def test_the_first_row_comes_before_the_file_is_even_written_to_the_end(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.csv"
    os.mkfifo(fifo)
    first_seen = threading.Event()
    outcome: dict[str, bool] = {}

    def writer() -> None:
        with open(fifo, "w") as pipe:
            pipe.write("id,text\n1,first row\n")
            pipe.flush()
            outcome["first row seen while writing"] = first_seen.wait(timeout=10)
            pipe.write("".join(f"{i},row {i}\n" for i in range(2, 1000)))

    thread = threading.Thread(target=writer)
    thread.start()
    items = read_feed(fifo, max_text_chars=MAX)
    first = next(items)
    first_seen.set()
    rest = list(items)
    thread.join()
    assert isinstance(first, FeedRow) and first.text == "first row"
    assert outcome == {"first row seen while writing": True}
    assert len(rows(rest)) == 998


def test_memory_stays_flat_reading_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("id,title,text\n")
        for i in range(20_000):
            out.write(f"{i},title {i},{'word ' * 100}{i}\n")
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        count = sum(isinstance(item, FeedRow) for item in read_feed(path, max_text_chars=MAX))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 2_000_000, f"peak {peak} bytes for a {path.stat().st_size} byte file"


# -- fuzzing -----------------------------------------------------------------------

TOKENS = [
    b'"', b",", b"\t", b"\n", b"\r\n", b"\r", b" ", b"text", b"title", b"id", b"date",
    b"a", b"\x00", b"\xff", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"{", b"}", b"[", b"]",
    b'"text": ', b'"\\ud800"', b"null", b"1e999", b"<", b">", b"</", b"<rss>", b"<item>",
    b"<title>", b"<description>", b"<feed>", b"<entry>", b"&#0;", b"&#xD800;", b"&amp;",
    b"<![CDATA[", b"]]>", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"&e;",
]  # fmt: skip

feed_bytes = st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from(TOKENS), max_size=80).map(b"".join),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=feed_bytes, fmt=st.sampled_from(["csv", "tsv", "jsonl", "rss"]))
def test_no_input_raises_anything_but_input_error(tmp_path: Path, data: bytes, fmt: str) -> None:
    path = tmp_path / "fuzz"
    path.write_bytes(data)
    try:
        read(path, fmt=fmt, max_text_chars=50)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
