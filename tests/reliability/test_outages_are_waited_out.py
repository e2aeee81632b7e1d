"""Redis or PostgreSQL unreachable for a while: enqueue and workers retry with
backoff and carry on when it is back, with no crash and no half-written batch.

The shared servers are never stopped here: a ``TcpProxy`` between one client
and its server cuts that client off (and ``redis://127.0.0.1:6399`` is a port
nothing listens on, for "down for good").
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from faults import (
    MID_JOB,
    TcpProxy,
    assert_alive,
    bbc_texts,
    held_mid_job,
    make_service,
    wait_for,
    write_csv,
)
from servers import own_redis_db
from services import newsclf_cmd

CLOSED_PORT_BROKER = "redis://127.0.0.1:6399/0"


def queued_ids(redis_url: str) -> list[int]:
    client = redis.Redis.from_url(redis_url)
    ids = []
    for raw in client.lrange("classify", 0, -1):
        ids += json.loads(base64.b64decode(json.loads(raw)["body"]))[1]["article_ids"]
    client.close()
    return sorted(ids)


@pytest.mark.slow
def test_enqueue_with_redis_down_stores_every_row_says_so_in_one_line_and_reconcile_queues_later(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path
) -> None:
    n = 1200  # three chunks of 500: the broker fails on the first, the rest is still stored
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, n))
        down = service.cli(
            "enqueue", str(feed), NEWSCLF_BROKER_URL=CLOSED_PORT_BROKER, NEWSCLF_BROKER_RETRY_S="3"
        )
        lines = down.stderr.strip().splitlines()
        print(f"\nFAULT redis down at enqueue: exit {down.returncode}; {lines[-1]!r}")
        assert down.returncode == 3 and "Traceback" not in down.stderr
        assert len(lines) == 2 and lines[0].startswith("note: broker unreachable (")
        assert "retrying for up to 3s (NEWSCLF_BROKER_RETRY_S)" in lines[0]  # said first, once
        assert lines[1].startswith("error: broker unreachable") and "newsclf reconcile" in lines[1]
        [job] = service.sql("SELECT id, status, total, new FROM jobs")
        assert (job.status, job.total, job.new) == ("running", n, n)
        stored = sorted(r.id for r in service.sql("SELECT id FROM articles"))
        assert len(stored) == n and queued_ids(redis_url) == []

        later = service.cli("reconcile", "--json")
        assert later.returncode == 0, later.stderr
        report = json.loads(later.stdout.strip().splitlines()[-1])
        print(
            f"FAULT redis down at enqueue: reconcile afterwards re-queued {report['republished']}"
        )
        assert report["republished"] == n and queued_ids(redis_url) == stored


@pytest.mark.slow
def test_enqueue_waits_for_a_redis_that_comes_back_and_queues_everything(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, 300))
        proxy = TcpProxy("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0]))
        proxy.cut()
        try:
            enqueue = subprocess.Popen(
                newsclf_cmd("enqueue", str(feed), "--json"),
                env={**service.env, "NEWSCLF_BROKER_URL": proxy.url(redis_url)},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            wait_for(lambda: proxy.refused >= 3, "enqueue to retry the broker a few times")
            proxy.restore()
            out, err = enqueue.communicate(timeout=300)
        finally:
            proxy.close()
        summary = json.loads(out.strip().splitlines()[-1])
        print(f"\nFAULT redis back during enqueue: {proxy.refused} refused connections, then exit "
              f"{enqueue.returncode}, {summary['published']} queued")  # fmt: skip
        assert enqueue.returncode == 0, err
        assert summary["published"] == 300 and len(queued_ids(redis_url)) == 300


@pytest.mark.slow
def test_a_worker_started_while_postgres_is_unreachable_waits_then_labels_the_job(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        proxy = TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432)
        proxy.cut()
        try:
            worker = start_worker(
                {**service.env, "NEWSCLF_DATABASE_URL": proxy.url(pg_url)}, ready=False
            )
            wait_for(
                lambda: worker.log().count("database unreachable") >= 3 or assert_alive(worker),
                "the worker to retry the database a few times",
            )
            proxy.restore()
            job = service.enqueue(write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, 500)))
            done = service.wait_done(job, alive=lambda: assert_alive(worker))
        finally:
            proxy.close()
        retries = worker.log().count("database unreachable")
        print(f"\nFAULT postgres down at worker start: {retries} retries logged, worker stayed up; "
              f"then {done['labeled']} labeled, {done['failed']} failed")  # fmt: skip
        assert (done["status"], done["labeled"], done["failed"]) == ("done", 500, 0)
        assert worker.proc.poll() is None and "Traceback" not in worker.log()


@pytest.mark.slow
def test_a_worker_cut_off_from_redis_mid_batch_reconnects_and_finishes_the_job(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    n = 3000
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path, **MID_JOB)
        proxy = TcpProxy("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0]))
        try:
            feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, n))
            env = {**service.env, "NEWSCLF_BROKER_URL": proxy.url(redis_url)}
            worker, job = held_mid_job(service, start_worker, feed, env=env)
            pid = worker.proc.pid
            at_cut = service.progress(job)
            proxy.cut()
            service.gate.open()  # the batch is written, its ack cannot reach Redis
            wait_for(
                lambda: proxy.refused >= 2 or assert_alive(worker),
                "the worker to try to reconnect to the broker",
            )
            proxy.restore()
            done = service.wait_done(job, alive=lambda: assert_alive(worker))
        finally:
            proxy.close()
        counts = service.predictions(job)
        print(f"\nFAULT redis cut from worker mid-batch: at cut {at_cut['labeled']}/{n} labeled; "
              f"{proxy.refused} refused reconnects; after: {done['labeled']} labeled, "
              f"{counts['rows']} prediction rows, worker pid {pid} kept")  # fmt: skip
        assert (done["status"], done["labeled"], done["failed"]) == ("done", n, 0)
        assert counts == {"rows": n, "articles": n, "most_per_article": 1}
        assert worker.proc.poll() is None and worker.proc.pid == pid
