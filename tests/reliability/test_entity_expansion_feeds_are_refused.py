"""An RSS/Atom document that declares entities is refused before any parser
expands them (feedparser's loose fallback expands them itself, quadratically),
and no stored field of a feed row can grow past its cap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from newsclf.errors import InputError
from newsclf.worker.ingest import (
    MAX_ID_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    FeedRow,
    Notice,
    read_feed,
)

ENTITY = "x" * 50_000
USES = 2_000


def expansion_feed(encoding: str = "utf-8") -> bytes:
    """A small document whose one entity, used 2,000 times, would be 100 million characters."""
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<!DOCTYPE rss [\n<!ENTITY big "{ENTITY}">\n]>\n'
        '<rss version="2.0"><channel><title>F</title><item><title>t</title>'
        f"<description>{'&big;' * USES}</description></item></channel></rss>"
    )
    return doc.encode(encoding)


PROBE = """
import resource, sys
cap = 256 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from newsclf.errors import InputError
from newsclf.worker.ingest import read_feed
try:
    rows = list(read_feed(sys.argv[1], max_text_chars=100_000))
    print("read", len(rows))
except InputError as exc:
    print(exc)
# VmHWM: this process's own peak (ru_maxrss would count the forking parent's).
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print("peak MB", peak // 1024, file=sys.stderr)
"""


def test_an_entity_expansion_feed_is_refused_in_one_line_under_a_memory_cap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "evil.rss"
    path.write_bytes(expansion_feed())
    assert path.stat().st_size < 64_000
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert "refused: the feed declares XML entities" in done.stdout
    peak = int(done.stderr.split("peak MB")[1])
    assert peak < 200, done.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_a_declaration_is_found_whatever_the_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "evil.xml"
    path.write_bytes(expansion_feed(encoding))
    with pytest.raises(InputError, match="declares XML entities") as info:
        read_feed(path, max_text_chars=1000)
    assert "\n" not in str(info.value)


def test_a_plain_doctype_that_declares_nothing_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rss091.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        '<rss version="0.91"><channel><title>F</title><item><title>Old feed</title>'
        "<description>still read</description></item></channel></rss>"
    )
    [row] = [i for i in read_feed(path, max_text_chars=1000) if isinstance(i, FeedRow)]
    assert row.text == "Old feed. still read"


def test_every_stored_field_is_capped(tmp_path: Path) -> None:
    long_title, long_link, long_id = "T" * 5_000, "http://x/" + "p" * 5_000, "g" * 5_000
    path = tmp_path / "big.rss"
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><item>'
        f"<title>{long_title}</title><link>{long_link}</link><guid>{long_id}</guid>"
        "<description>body</description></item></channel></rss>"
    )
    items = list(read_feed(path, max_text_chars=1000))
    [row] = [i for i in items if isinstance(i, FeedRow)]
    assert row.title is not None and len(row.title) == MAX_TITLE_CHARS
    assert row.url is None and row.external_id is None  # a cut URL or id would lie
    assert len(row.text) <= 1000
    notes = " ".join(str(i) for i in items if isinstance(i, Notice))
    assert f"title cut from 5000 to {MAX_TITLE_CHARS}" in notes
    assert f"limit {MAX_URL_CHARS}" in notes and f"limit {MAX_ID_CHARS}" in notes
    csv = tmp_path / "big.csv"
    csv.write_text(f"text,source\nbody,{'s' * 5_000}\n")
    [row] = [i for i in read_feed(csv, max_text_chars=1000) if isinstance(i, FeedRow)]
    assert row.source is not None and len(row.source) == 500
