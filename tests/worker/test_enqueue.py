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
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record

    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions.begin() as session:
        version = register_artifact(session, artifact_record(artifact)).version
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
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.models import Article, JobArticle
    from newsclf.schema.predictions import insert_predictions
    from newsclf.worker.enqueue import enqueue_feeds

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
    from newsclf.schema.models import Article
    from newsclf.worker.enqueue import enqueue_feeds

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


def job_row(sessions: Any, job_id: int) -> dict[str, Any]:
    """What ``newsclf status --json`` shows of a job, and its stored job_articles rows."""
    from newsclf.schema.models import JobArticle
    from newsclf.worker.results import jobs_status

    with sessions() as session:
        [row] = jobs_status(session, job_ids=[job_id])
        row["articles"] = session.scalar(
            select(func.count()).select_from(JobArticle).where(JobArticle.job_id == job_id)
        )
    return row


def label_everything(sessions: Any, version: str) -> None:
    """What a worker would do: a prediction for every stored article, then finish jobs."""
    from newsclf.schema.jobs import finish_jobs_if_done
    from newsclf.schema.models import Article, Job
    from newsclf.schema.predictions import insert_predictions

    with sessions.begin() as session:
        ids = session.scalars(select(Article.id)).all()
        insert_predictions(
            session,
            [{"article_id": i, "model_version": version, "label": "tech", "confidence": 1.0,
              "probabilities": {"tech": 1.0}, "batch_id": "t"} for i in ids],
        )  # fmt: skip
        finish_jobs_if_done(session, session.scalars(select(Job.id)).all())


def test_a_job_shows_true_counts_while_its_feed_is_stored_and_no_worker_finishes_it_early(
    database_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    """After each stored chunk (the progress callback, between chunks), the job counts
    what is stored: total = new + duplicate + rejected = its job_articles rows here (no
    repeats); and a worker that has labeled everything stored cannot finish it yet."""
    from newsclf.worker.enqueue import enqueue_feeds

    sessions, version = setup(database_url, tiny_artifact)
    texts = feed_texts(1500)
    texts[10] = ""  # one rejected row early on
    seen: list[dict[str, Any]] = []

    def check(report: Any) -> None:
        row = job_row(sessions, report.job_id)
        seen.append(row)
        assert row["total"] == row["new"] + row["duplicate"] + row["rejected"]
        assert row["total"] - row["rejected"] == row["articles"] > 0
        assert 0 <= row["labeled"] <= row["total"] and row["pending"] >= 0
        if len(seen) == 1:
            assert row["status"] == "enqueuing"
            label_everything(sessions, version)  # all stored so far labeled
            after = job_row(sessions, report.job_id)
            assert (after["status"], after["pending"]) == ("enqueuing", 0)

    report = enqueue_feeds(
        [str(write_feed(tmp_path / "feed.csv", texts))],
        sessions=sessions,
        publisher=Recording(),
        settings=Settings(database_url=database_url),
        progress=check,
    )
    assert len(seen) > 3 and seen[0]["total"] < seen[-2]["total"] < 1500
    final = job_row(sessions, report.job_id)
    assert (final["total"], final["new"], final["rejected"], final["articles"]) == (
        1500, 1499, 1, 1499,
    )  # fmt: skip
    assert final["status"] == report.status == "running"


def test_a_stop_mid_feed_stores_what_was_read_marks_the_job_interrupted_and_a_rerun_resumes(
    database_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    from newsclf.schema.models import Article, Job
    from newsclf.worker.enqueue import StopFlag, enqueue_feeds

    sessions, version = setup(database_url, tiny_artifact)
    feed = str(write_feed(tmp_path / "feed.csv", feed_texts(3000)))
    stop = StopFlag()
    first = Recording()
    calls = 0

    def stop_after_two_chunks(report: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            stop.request()

    settings = Settings(database_url=database_url, task_chunk=100)
    report = enqueue_feeds(
        [feed], sessions=sessions, publisher=first, settings=settings,
        progress=stop_after_two_chunks, stop=stop,
    )  # fmt: skip
    row = job_row(sessions, report.job_id)
    stored = report.new + report.duplicate
    assert report.interrupted and row["status"] == report.status == "interrupted"
    assert 64 + 128 <= stored < 3000 and report.total == stored  # the chunk in hand stored too
    assert (row["total"], row["new"], row["articles"]) == (stored, stored, stored)
    published = sorted(i for m in first.messages for i in m)
    assert len(published) == report.published == stored  # stored = queued

    again = Recording()
    resumed = enqueue_feeds([feed], sessions=sessions, publisher=again, settings=settings)
    assert (resumed.total, resumed.new, resumed.duplicate) == (3000, 3000 - stored, stored)
    republished = sorted(i for m in again.messages for i in m)
    assert set(published) <= set(republished)  # not labeled yet: queued again, labeled once
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 3000

    label_everything(sessions, version)
    with sessions() as session:
        old = session.get_one(Job, report.job_id)
        assert (old.status, old.labeled, old.finished_at is not None) == (
            "interrupted", stored, True,
        )  # fmt: skip
        assert session.get_one(Job, resumed.job_id).status == "done"


def test_a_stop_before_any_row_is_stored_makes_no_job(
    database_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    from newsclf.schema.models import Article, Job
    from newsclf.worker.enqueue import StopFlag, enqueue_feeds

    sessions, _ = setup(database_url, tiny_artifact)
    stop = StopFlag()
    stop.request()
    report = enqueue_feeds(
        [str(write_feed(tmp_path / "feed.csv", feed_texts(100)))],
        sessions=sessions, publisher=Recording(), settings=Settings(database_url=database_url),
        stop=stop,
    )  # fmt: skip
    assert report.interrupted and report.job_id == 0 and report.total == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(Article)) == 0
