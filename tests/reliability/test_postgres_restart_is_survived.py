"""PostgreSQL goes down in the middle of a batch and comes back: the worker waits
(retrying with backoff), never exits, writes the batch when the server is back,
and the job completes with none missing, none twice.

It stops and starts the throwaway PostgreSQL server the suite started
(``servers.py``); it is skipped when the suite runs on a server of the user's
(NEWSCLF_TEST_PG), which it must never stop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults import MID_JOB, assert_alive, bbc_texts, held_mid_job, make_service, wait_for, write_csv
from servers import own_redis_db, postgres

N_ARTICLES = 3000


@pytest.mark.slow
def test_postgres_stopped_mid_batch_and_started_again_the_worker_waits_and_finishes_the_job(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    server = postgres()
    if not server.owned:
        pytest.skip("runs only on the suite's own PostgreSQL: NEWSCLF_TEST_PG is the user's")
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path, **MID_JOB)
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, N_ARTICLES))
        worker, job = held_mid_job(service, start_worker, feed)
        pid = worker.proc.pid
        at_stop = service.progress(job)

        server.stop()
        try:
            service.gate.open()  # the held batch runs its model, then cannot write
            wait_for(
                lambda: "database unreachable" in worker.log() or assert_alive(worker),
                "the worker to notice that the database is down",
                timeout=120,
            )
        finally:
            server.start()
            wait_for(server.ready, "PostgreSQL to accept connections", timeout=120)

        done = service.wait_done(job, alive=lambda: assert_alive(worker))
        counts = service.predictions(job)
        retries = worker.log().count("database unreachable")
        print(
            f"\nFAULT postgres-restart: at stop {at_stop['labeled']}/{N_ARTICLES} labeled; "
            f"worker logged {retries} retries and stayed up (pid {pid}); after: "
            f"{done['labeled']} labeled, {done['failed']} failed, {counts['rows']} prediction rows"
        )
        assert 0 < at_stop["labeled"] < N_ARTICLES
        assert worker.proc.poll() is None and worker.proc.pid == pid
        assert (done["status"], done["labeled"], done["failed"]) == ("done", N_ARTICLES, 0)
        assert counts == {"rows": N_ARTICLES, "articles": N_ARTICLES, "most_per_article": 1}
        assert "Traceback" not in worker.log()
