"""``enqueue_feeds`` in-process on a real database: a feed of many chunks, read in
this thread while a second one stores and publishes the chunk before."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from newsclf.settings import Settings


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url"))


class Recording:
    """A publisher that keeps each message; raises ``fail_at``'s exception on that message."""

    def __init__(self, fail_at: int = 0) -> None:
        self.messages: list[list[int]] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at

    def publish(self, article_ids: Any) -> None:
        self.threads.add(threading.current_thread().name)
        if len(self.messages) + 1 == self.fail_at:
            raise RuntimeError("publish failed")
        self.messages.append(list(article_ids))


def setup(url: str, artifact: Path) -> tuple[Any, str]:
    from newsclf.registry import register_artifact
    from schema.db import make_engine, session_factory, upgrade

    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions.begin() as session:
        version = register_artifact(session, artifact).version
    return sessions, version


def write_feed(path: Path, texts: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        writer.writerows([f"r{i}", t] for i, t in enumerate(texts))
    return path


def feed_texts(n: int) -> list[str]:
    return [
        f"article {i}: shares in company {i} rose after the results for quarter {i}"
        for i in range(n)
    ]


def test_a_feed_of_many_chunks_publishes_exactly_what_needs_a_label(
    database_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    from schema.models import Article, JobArticle
    from schema.store import insert_predictions, upsert_articles
    from worker.enqueue import enqueue_feeds

    sessions, version = setup(database_url, tiny_artifact)
    old = ["an old labeled article", "an old failed article", "an old unlabeled article"]
    with sessions.begin() as session:
        (labeled, _), (failed, _), (unlabeled, _) = upsert_articles(
            session, [{"text": t, "source": "old"} for t in old]
        )
        insert_predictions(
            session,
            [{"article_id": labeled, "model_version": version, "label": "tech",
              "confidence": 0.9, "probabilities": {"tech": 0.9}, "batch_id": "old"}],
        )  # fmt: skip
        session.execute(update(Article).where(Article.id == failed).values(failed_reason="poison"))

    texts = feed_texts(1300)
    texts[100:100] = [old[0]]  # the old articles, and one new one twice, across chunks
    texts[700:700] = [old[1]]
    texts[900:900] = [texts[5]]
    texts[1250:1250] = [old[2]]
    publisher = Recording()
    seen: list[int] = []
    report = enqueue_feeds(
        [str(write_feed(tmp_path / "feed.csv", texts))],
        sessions=sessions,
        publisher=publisher,
        settings=Settings(database_url=database_url, task_chunk=100),
        progress=lambda r: seen.append(r.new),
    )

    assert (report.total, report.new, report.duplicate, report.rejected) == (1304, 1300, 4, 0)
    published = [i for message in publisher.messages for i in message]
    with sessions() as session:
        new_ids = set(session.scalars(select(Article.id).where(Article.source == "feed.csv")))
        in_job = session.scalar(
            select(func.count()).select_from(JobArticle).where(JobArticle.job_id == report.job_id)
        )
    assert len(new_ids) == 1300 and in_job == 1303
    assert sorted(published) == sorted(
        new_ids | {unlabeled}
    )  # each once; not the labeled or failed
    assert report.published == 1301 and report.unqueued == 0
    assert all(0 < len(m) <= 100 for m in publisher.messages)
    assert [t.startswith("newsclf-store") for t in publisher.threads] == [True]
    assert seen == sorted(seen) and seen[-1] == 1300 and len(seen) > 3


def test_a_failure_while_storing_stops_the_feed_and_keeps_the_chunks_stored_before(
    pg_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    """Chunks of 64 and 128 rows; the third message (the second chunk's second)
    fails: the error reaches the caller and only the rows of whole chunks stay."""
    from schema.models import Article
    from worker.enqueue import enqueue_feeds

    sessions, _ = setup(pg_url, tiny_artifact)
    with pytest.raises(RuntimeError, match="publish failed"):
        enqueue_feeds(
            [str(write_feed(tmp_path / "feed.csv", feed_texts(2000)))],
            sessions=sessions,
            publisher=Recording(fail_at=3),
            settings=Settings(database_url=pg_url, task_chunk=64),
        )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 64 + 128
