"""Poison articles: one that makes the model raise, one that kills its worker.

Each sinks only itself: every other article of its batch is labeled, the
poison one ends ``failed`` with its reason after at most ``max_attempts``
deliveries, and the job finishes with ``failed == 1``. The killer checks the
guard against "late acks redeliver a task that kills its worker forever".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_hooks import KILLER, POISON
from faults import assert_alive, bbc_texts, make_service, wait_for, write_csv
from servers import own_redis_db

MAX_ATTEMPTS = 3


def feed_with(bbc_csv: Path, path: Path, n: int, marker: str) -> Path:
    """``n`` BBC articles with one more in the middle that carries ``marker``."""
    texts = bbc_texts(bbc_csv, n)
    texts.insert(n // 2, f"{texts[0][:300]} {marker}")
    return write_csv(path, texts)


def poison_row(service, marker: str) -> tuple[int, str | None, int]:  # type: ignore[no-untyped-def]
    [row] = service.sql(
        "SELECT coalesce(d.attempts, 0) AS attempts, a.failed_reason, a.id FROM articles AS a"
        " LEFT JOIN deliveries AS d ON d.article_id = a.id WHERE a.text LIKE :m",
        m=f"%{marker}%",
    )
    return row.attempts, row.failed_reason, row.id


@pytest.mark.slow
def test_an_article_that_makes_the_model_raise_fails_alone_after_bounded_attempts(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    n = 300
    with own_redis_db() as redis_url:
        service = make_service(
            pg_url, redis_url, tiny_artifact, tmp_path, max_attempts=MAX_ATTEMPTS
        )
        worker = start_worker(service.env)
        job = service.enqueue(feed_with(bbc_csv, tmp_path / "feed.csv", n, POISON))
        done = service.wait_done(job, alive=lambda: assert_alive(worker))
        attempts, reason, _ = poison_row(service, POISON)
        print(
            f"\nFAULT poison (raises): {done['labeled']} labeled, {done['failed']} failed; "
            f"poison attempts {attempts}; reason {reason!r}"
        )
        assert (done["status"], done["labeled"], done["failed"]) == ("done", n, 1)
        assert (done["job_labeled"], done["job_failed"]) == (n, 1)
        assert reason is not None and "PoisonText" in reason and "poison article" in reason
        assert 1 <= attempts <= MAX_ATTEMPTS
        assert service.predictions(job)["most_per_article"] == 1
        status = service.cli("status", "--job", str(job), "--json")
        assert status.returncode == 0, status.stderr
        assert worker.proc.poll() is None


@pytest.mark.slow
def test_an_article_that_kills_its_worker_is_failed_after_max_attempts_and_the_rest_labeled(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    n = 60
    with own_redis_db() as redis_url:
        service = make_service(
            pg_url, redis_url, tiny_artifact, tmp_path, max_attempts=MAX_ATTEMPTS
        )
        worker = start_worker(service.env)
        job = service.enqueue(feed_with(bbc_csv, tmp_path / "feed.csv", n, KILLER))
        starts = 1
        # A supervisor's job: start a new worker each time one dies (bounded).
        while service.progress(job)["status"] != "done":
            if worker.proc.poll() is not None:
                assert starts <= MAX_ATTEMPTS + 2, "the killer was delivered without bound"
                worker = start_worker(service.env, ready=False)  # it may die before 'ready'
                starts += 1
            wait_for(
                lambda w=worker: (
                    w.proc.poll() is not None or service.progress(job)["status"] == "done"
                ),
                "the worker to die or the job to finish",
                every=0.5,
            )
        done = service.progress(job)
        attempts, reason, _ = poison_row(service, KILLER)
        deaths = (tmp_path / "deaths").read_text().split()
        print(
            f"\nFAULT poison (kills worker): {len(deaths)} worker deaths, {starts} starts; "
            f"{done['labeled']} labeled, {done['failed']} failed; killer attempts {attempts}; "
            f"reason {reason!r}"
        )
        assert (done["status"], done["labeled"], done["failed"]) == ("done", n, 1)
        assert reason is not None and "gave up" in reason
        assert attempts == MAX_ATTEMPTS and len(deaths) == MAX_ATTEMPTS
        assert service.predictions(job)["most_per_article"] == 1
