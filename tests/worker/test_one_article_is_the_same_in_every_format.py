"""The same items (title, body), written as CSV, JSONL, RSS and Atom, give the same
stored title, the same model text and the same content sha256: stored once."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from newsclf.worker.ingest import FeedRow, content_sha256, read_feed

ITEMS = [
    ("Markets rally", "Shares  rose &amp; more\n\tthan   expected."),
    ("AT&amp;T & Verizon", "Both  fell & recovered"),
    ("Caf\u0065\u0301 owners", "The caf&eacute; price of   coffee rose 5%"),  # NFD title
    ("Quiet day!", "Nothing  moved."),
    ("Body only repeats the title", "Body only repeats the title, then goes on."),
    ("A headline with no body", ""),
    ("", "A body with no title"),
]
"""Entities, runs of whitespace, decomposed accents, titles ending in "!", bodies
that start with the title, and a missing title or body."""


def write_all(tmp_path: Path) -> dict[str, Path]:
    paths = {f: tmp_path / f"items.{f}" for f in ("csv", "jsonl", "rss", "atom")}
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "text"])
        writer.writerows([i, t, b] for i, (t, b) in enumerate(ITEMS))
    paths["jsonl"].write_text(
        "".join(
            json.dumps({"id": i, "title": t, "text": b}) + "\n" for i, (t, b) in enumerate(ITEMS)
        )
    )
    rss_items = "".join(
        f"<item><guid>{i}</guid><title>{escape(t)}</title><description>{escape(b)}</description></item>"
        for i, (t, b) in enumerate(ITEMS)
    )
    paths["rss"].write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{rss_items}</channel></rss>'
    )
    entries = "".join(
        f'<entry><id>{i}</id><title type="html">{escape(t)}</title>'
        f'<content type="html">{escape(b)}</content></entry>'
        for i, (t, b) in enumerate(ITEMS)
    )
    paths["atom"].write_text(
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>{entries}</feed>'
    )
    return paths


def articles(path: Path) -> list[tuple[Any, ...]]:
    rows = [i for i in read_feed(path, max_text_chars=10_000) if isinstance(i, FeedRow)]
    return [(r.line, r.title, r.text, content_sha256(r.text)) for r in rows]


def test_every_format_gives_the_same_title_text_and_hash(tmp_path: Path) -> None:
    by_format = {f: articles(p) for f, p in write_all(tmp_path).items()}
    assert by_format["csv"] == by_format["jsonl"] == by_format["rss"] == by_format["atom"]
    texts = [text for _, _, text, _ in by_format["csv"]]
    assert texts == [
        "Markets rally. Shares rose & more than expected.",
        "AT&T & Verizon. Both fell & recovered",
        "Caf\u00e9 owners. The caf\u00e9 price of coffee rose 5%",
        "Quiet day! Nothing moved.",
        "Body only repeats the title, then goes on.",
        "A headline with no body",
        "A body with no title",
    ]
    assert [line for line, *_ in by_format["rss"]] == list(range(1, len(ITEMS) + 1))


def test_the_same_items_in_four_formats_are_stored_once(
    tmp_path: Path, sqlite_url: str, tiny_artifact: Path
) -> None:
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.registry import register_artifact
    from newsclf.settings import Settings
    from newsclf.trainer.blobs import artifact_record
    from newsclf.worker.enqueue import enqueue_feeds

    upgrade(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    with sessions.begin() as session:
        register_artifact(session, artifact_record(tiny_artifact))

    class Publisher:
        def publish(self, ids: Any) -> None:
            pass

    settings = Settings(database_url=sqlite_url)
    reports = [
        enqueue_feeds([str(p)], sessions=sessions, publisher=Publisher(), settings=settings)
        for p in write_all(tmp_path).values()
    ]
    assert [(r.new, r.duplicate) for r in reports] == [(len(ITEMS), 0)] + [(0, len(ITEMS))] * 3
