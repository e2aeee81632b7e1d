"""`kill -9` of a worker in the middle of a 5,000-article job: a new worker finishes
it, with exactly one prediction per article.

The gate of ``fault_hooks`` holds the worker inside a batch (its articles
claimed, nothing of that batch written) after it has seen 1,000 texts, so the
kill always lands mid-job and mid-batch; then the process group gets SIGKILL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults import MID_JOB, assert_alive, bbc_texts, held_mid_job, make_service, write_csv
from servers import own_redis_db

N_ARTICLES = 5000


@pytest.mark.slow
def test_a_worker_killed_mid_batch_is_replaced_and_the_job_ends_with_5000_predictions_once(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        # Batches of 128: several are written and acked before the 1,000th text,
        # so the kill finds predictions stored and messages in flight.
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path, **MID_JOB)
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, N_ARTICLES))
        first, job = held_mid_job(service, start_worker, feed)
        at_kill = service.progress(job)
        assert 0 < at_kill["labeled"] < N_ARTICLES
        first.kill()
        service.gate.open()

        second = start_worker(service.env)
        done = service.wait_done(job, alive=lambda: assert_alive(second))
        counts = service.predictions(job)
        attempts = service.sql(
            "SELECT coalesce(d.attempts, 0) AS attempts, count(*) FROM articles AS a"
            " LEFT JOIN deliveries AS d ON d.article_id = a.id GROUP BY 1 ORDER BY 1"
        )
        print(
            f"\nFAULT kill-9: labeled at kill {at_kill['labeled']}/{N_ARTICLES}; "
            f"after: {done['labeled']} labeled, {done['failed']} failed, "
            f"{counts['rows']} prediction rows, attempts {[tuple(r) for r in attempts]}"
        )
        assert (done["status"], done["labeled"], done["failed"]) == ("done", N_ARTICLES, 0)
        assert (done["job_labeled"], done["job_failed"]) == (N_ARTICLES, 0)
        assert counts == {"rows": N_ARTICLES, "articles": N_ARTICLES, "most_per_article": 1}
        assert second.proc.poll() is None
