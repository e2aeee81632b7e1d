"""SIGTERM in the middle of a job (a rolling restart): the worker finishes the merged
batch in hand, acks it, hands back what it had prefetched and exits; a new worker
labels the rest. Every article is labeled once and delivered once (attempts = 1:
no redelivery), and nothing waits for the visibility timeout, which is set far
beyond the test's deadlines so that anything relying on it would fail.

If the database is gone when the batch in hand wants to write, the worker does
not wait for it: the batch goes back to the queue at once (its articles are
delivered a second time, to the next worker) and the worker exits.

Run with ``-s`` for the figures: how long the drain took and the longest gap
between two prediction writes across the restart.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from faults import MID_JOB, TcpProxy, assert_alive, bbc_texts, held_mid_job, make_service, write_csv
from servers import own_redis_db

N_ARTICLES = 3000
VISIBILITY_TIMEOUT_S = 3600
"""Far longer than any wait below: an article left for redelivery fails the test."""
ATTEMPTS = (
    "SELECT coalesce(d.attempts, 0) AS attempts, count(*) AS n FROM articles AS a"
    " LEFT JOIN deliveries AS d ON d.article_id = a.id GROUP BY 1"
)
"""(deliveries, articles with that many), every article counted."""


@pytest.mark.slow
def test_sigterm_mid_batch_finishes_the_batch_hands_back_the_rest_and_nothing_is_redelivered(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    import redis

    with own_redis_db() as redis_url:
        service = make_service(
            pg_url, redis_url, tiny_artifact, tmp_path,
            visibility_timeout_s=VISIBILITY_TIMEOUT_S, **MID_JOB,
        )  # fmt: skip
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, N_ARTICLES))
        first, job = held_mid_job(service, start_worker, feed)
        at_term = service.progress(job)

        sigterm_at = time.monotonic()
        os.kill(first.proc.pid, signal.SIGTERM)
        time.sleep(0.5)  # the signal lands while the batch is held
        service.gate.open()
        code = first.proc.wait(60)
        drained_s = time.monotonic() - sigterm_at
        client = redis.Redis.from_url(redis_url)
        unacked, queued = client.hlen("unacked"), client.llen("classify")
        after_drain = service.progress(job)

        started = time.monotonic()
        second = start_worker(service.env)
        ready_s = time.monotonic() - started
        done = service.wait_done(job, timeout=600, alive=lambda: assert_alive(second))

        counts = service.predictions(job)
        attempts = service.sql(ATTEMPTS)
        [gap] = service.sql(
            "SELECT coalesce(extract(epoch FROM max(d)), 0) AS s FROM (SELECT created_at"
            " - lag(created_at) OVER (ORDER BY created_at) AS d FROM predictions) g"
        )
        print(
            f"\nDRAIN SIGTERM mid-batch: labeled {at_term['labeled']} at SIGTERM, "
            f"{after_drain['labeled']} when worker A exited ({code}) {drained_s:.1f}s later; "
            f"unacked {unacked}, queued {queued} messages; worker B ready in {ready_s:.1f}s; "
            f"longest gap between prediction writes {float(gap.s):.1f}s; "
            f"attempts {sorted((r.attempts, r.n) for r in attempts)}"
        )
        assert code == 0
        assert "handed back" not in first.log()  # the database was up: the batch was finished
        assert after_drain["labeled"] > at_term["labeled"]  # the batch in hand was written
        assert unacked == 0  # nothing left for the visibility timeout
        assert queued > 0
        assert (done["labeled"], done["failed"]) == (N_ARTICLES, 0)
        assert counts == {"rows": N_ARTICLES, "articles": N_ARTICLES, "most_per_article": 1}
        assert [(r.attempts, r.n) for r in attempts] == [(1, N_ARTICLES)]
        assert not re.search(r"skipped=[1-9]", second.log())  # A's last batch was acked


@pytest.mark.slow
def test_sigterm_mid_batch_with_the_database_gone_hands_the_batch_back_at_once(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    import redis
    from sqlalchemy.engine import make_url

    with own_redis_db() as redis_url:
        service = make_service(
            pg_url, redis_url, tiny_artifact, tmp_path,
            visibility_timeout_s=VISIBILITY_TIMEOUT_S, **MID_JOB,
        )  # fmt: skip
        url = make_url(pg_url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, N_ARTICLES))
        env = {**service.env, "NEWSCLF_DATABASE_URL": proxy.url(pg_url)}
        first, job = held_mid_job(service, start_worker, feed, env=env)
        at_term = service.progress(job)

        proxy.cut()  # the database goes away while the batch is held
        os.kill(first.proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        service.gate.open()
        try:
            code = first.proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 15s after SIGTERM:\n{first.log()[-3000:]}") from None
        proxy.close()
        client = redis.Redis.from_url(redis_url)
        unacked = client.hlen("unacked")

        second = start_worker(service.env)
        done = service.wait_done(job, timeout=600, alive=lambda: assert_alive(second))
        counts = service.predictions(job)
        attempts = dict(service.sql(ATTEMPTS))
        print(
            f"\nDRAIN database gone: labeled {at_term['labeled']} at SIGTERM; worker A exited "
            f"({code}); unacked {unacked}; attempts {sorted(attempts.items())}"
        )
        assert "handed back to the queue" in first.log()
        assert unacked == 0
        assert (done["labeled"], done["failed"]) == (N_ARTICLES, 0)
        assert counts == {"rows": N_ARTICLES, "articles": N_ARTICLES, "most_per_article": 1}
        # Only the batch in hand was delivered twice (claimed by A, then by B).
        assert set(attempts) <= {1, 2} and 0 < attempts.get(2, 0) <= MID_JOB["merge_size"]
