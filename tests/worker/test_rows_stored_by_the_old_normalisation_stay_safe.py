"""Articles stored before the one normalisation (CSV/JSONL text as given, the title
kept apart) are left as they are; enqueueing the same feed again stays safe:

- a row without a title or entities hashes as before (whitespace and Unicode
  form never counted): it is the stored article, nothing new;
- a row with a title (or HTML entities) now has another model text, so it is
  stored once more, under the new text, and deduplicated from then on.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import select


class Publisher:
    def __init__(self) -> None:
        self.ids: list[int] = []

    def publish(self, ids: Any) -> None:
        self.ids += list(ids)


def test_re_enqueueing_old_data_reuses_what_hashes_the_same_and_adds_the_rest_once(
    sqlite_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    from newsclf.schema.articles import content_sha256, upsert_articles
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.models import Article
    from newsclf.schema.registry import register_artifact
    from newsclf.settings import Settings
    from newsclf.trainer.blobs import artifact_record
    from newsclf.worker.enqueue import enqueue_feeds

    upgrade(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    with sessions.begin() as session:
        register_artifact(session, artifact_record(tiny_artifact))
    untitled = "Shares  rose\n in early   trading"
    titled = ("Cup final", "The striker scored twice")
    feed = tmp_path / "old.csv"
    with open(feed, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["title", "text"])
        writer.writerows([["", untitled], list(titled)])
    # What the old code stored for this feed: each text as given, hashed as given.
    with sessions.begin() as session:
        old = upsert_articles(
            session,
            [
                {"text": untitled, "title": None, "source": "old.csv"},
                {"text": titled[1], "title": titled[0], "source": "old.csv"},
            ],
        )
    old_ids = [a for a, _ in old]

    settings = Settings(database_url=sqlite_url)
    first = enqueue_feeds([str(feed)], sessions=sessions, publisher=Publisher(), settings=settings)
    second = enqueue_feeds([str(feed)], sessions=sessions, publisher=Publisher(), settings=settings)
    assert (first.new, first.duplicate) == (1, 1)  # the titled row, once
    assert (second.new, second.duplicate) == (0, 2)
    with sessions() as session:
        articles = session.execute(select(Article.id, Article.text, Article.content_sha256)).all()
    by_id = {a.id: a for a in articles}
    assert len(articles) == 3
    # The old rows are untouched.
    assert by_id[old_ids[0]].text == untitled
    assert by_id[old_ids[1]].text == titled[1]
    assert by_id[old_ids[1]].content_sha256 == content_sha256(titled[1])
    [added] = set(by_id) - set(old_ids)
    assert by_id[added].text == "Cup final. The striker scored twice"
