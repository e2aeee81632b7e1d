"""SIGINT (Ctrl-C) or SIGTERM to ``newsclf enqueue`` mid-feed: the rows read so far
are stored and queued, the job is marked ``interrupted`` with counts that match
what is stored, one line says so, and the same command run again labels every
row exactly once. Real subprocesses, real signals, a real worker.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import redis
from faults import make_service, wait_for
from servers import own_redis_db
from services import newsclf_cmd

N_ROWS = 20_000
"""Rows of the generated feed: enough that a signal sent once some are stored
arrives long before the end."""

WORDS = (
    "shares market bank profit match goal team film music phone software election "
    "minister court growth oil price season coach album chart network users vote"
).split()


def generated_feed(path: Path, n: int) -> Path:
    """``n`` distinct short articles (id, text)."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for i in range(n):
            words = [WORDS[(i * 7 + k * (i % 13 + 1)) % len(WORDS)] for k in range(24)]
            writer.writerow([f"g{i}", f"report {i}: " + " ".join(words)])
    return path


def stored_rows(pg_url: str) -> int:
    """Articles committed so far (read on a connection of its own)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])


def queued_ids(redis_url: str) -> list[int]:
    import base64

    client = redis.Redis.from_url(redis_url)
    ids: list[int] = []
    for raw in client.lrange("classify", 0, -1):
        ids += json.loads(base64.b64decode(json.loads(raw)["body"]))[1]["article_ids"]
    client.close()
    return sorted(ids)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_feed_leaves_an_interrupted_job_and_the_same_command_resumes(
    sig: signal.Signals, pg_url: str, tiny_artifact: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        feed = generated_feed(tmp_path / "feed.csv", N_ROWS)
        command = newsclf_cmd("enqueue", str(feed), "--json")
        first = subprocess.Popen(
            command, env=service.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_for(
            lambda: first.poll() is not None or stored_rows(pg_url) > 0,
            "enqueue to store its first rows", every=0.01,
        )  # fmt: skip
        assert first.poll() is None, "enqueue ended before the signal: make the feed larger"
        first.send_signal(sig)
        out, err = first.communicate(timeout=120)
        lines = err.strip().splitlines()
        print(f"\nFAULT {sig.name} mid-feed: exit {first.returncode}; {lines}")
        assert first.returncode == 128 + sig, err
        assert len(lines) == 1 and lines[0].startswith(f"interrupted ({sig.name}): job "), err
        assert "run the same command again to resume" in lines[0]

        summary = json.loads(out.strip().splitlines()[-1])
        [job] = service.sql(
            "SELECT j.id, j.status, j.total, j.new, j.duplicate, j.rejected, "
            "(SELECT count(*) FROM job_articles ja WHERE ja.job_id = j.id) AS articles FROM jobs j"
        )
        stored = sorted(r.id for r in service.sql("SELECT id FROM articles"))
        assert job.status == summary["status"] == "interrupted" and summary["interrupted"]
        assert 0 < job.total == job.new == job.articles == len(stored) < N_ROWS
        assert (job.duplicate, job.rejected, summary["new"]) == (0, 0, job.new)
        assert queued_ids(redis_url) == stored  # what is stored is queued, each once
        assert summary["published"] == len(stored) and summary["unqueued"] == 0

        start_worker(service.env)
        again = service.cli("enqueue", str(feed), "--json", "--wait", "--timeout", "900",
                            timeout=1000)  # fmt: skip
        assert again.returncode == 0, again.stderr
        resumed = json.loads(again.stdout.strip().splitlines()[-1])
        print(f"FAULT {sig.name} mid-feed: the same command again: {resumed}")
        assert (resumed["total"], resumed["new"], resumed["duplicate"]) == (
            N_ROWS, N_ROWS - len(stored), len(stored),
        )  # fmt: skip
        assert resumed["status"] == "done" and resumed["labeled"] == N_ROWS
        assert service.predictions(resumed["job_id"]) == {
            "rows": N_ROWS, "articles": N_ROWS, "most_per_article": 1,
        }  # fmt: skip
        old = wait_for(
            lambda: service.sql(
                "SELECT status, labeled, failed FROM jobs WHERE id = :j AND finished_at IS NOT NULL",
                j=job.id,
            ),
            "the interrupted job to be seen labeled",
        )[0]
        assert (old.status, old.labeled, old.failed) == ("interrupted", len(stored), 0)


@pytest.mark.slow
def test_with_the_broker_down_enqueue_says_so_at_once_and_a_signal_ends_its_retrying(
    pg_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    """The note comes with the first refused connection, while enqueue still retries
    (for 10 minutes here); SIGTERM then ends it with every read row stored, and
    ``reconcile`` queues them once the broker is back."""
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        feed = generated_feed(tmp_path / "feed.csv", 2000)
        down = {"NEWSCLF_BROKER_URL": "redis://127.0.0.1:6399/0", "NEWSCLF_BROKER_RETRY_S": "600"}
        enqueue = subprocess.Popen(
            newsclf_cmd("enqueue", str(feed), "--json"), env={**service.env, **down},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        note = enqueue.stderr.readline().strip() if enqueue.stderr else ""
        still_retrying = enqueue.poll() is None
        enqueue.send_signal(signal.SIGTERM)
        out, err = enqueue.communicate(timeout=120)  # far less than the 600 s of retrying
        lines = err.strip().splitlines()
        print(f"\nFAULT broker down at enqueue, then SIGTERM: {note!r}; exit {enqueue.returncode}; "
              f"{lines}")  # fmt: skip
        assert note.startswith("note: broker unreachable (") and still_retrying, note
        assert "retrying for up to 600s (NEWSCLF_BROKER_RETRY_S)" in note
        assert enqueue.returncode == 143 and len(lines) == 1, err
        assert lines[0].startswith("interrupted (SIGTERM): job ") and "0 queued" in lines[0]
        assert "not queued (broker unreachable)" in lines[0]

        [job] = service.sql(
            "SELECT j.id, j.status, j.total, "
            "(SELECT count(*) FROM job_articles ja WHERE ja.job_id = j.id) AS articles FROM jobs j"
        )
        stored = sorted(r.id for r in service.sql("SELECT id FROM articles"))
        assert job.status == "interrupted" and 0 < job.total == job.articles == len(stored)
        assert json.loads(out.strip().splitlines()[-1])["unqueued"] == len(stored)

        later = service.cli("reconcile", "--json")
        assert later.returncode == 0, later.stderr
        assert json.loads(later.stdout.strip().splitlines()[-1])["republished"] == len(stored)
        assert queued_ids(redis_url) == stored


@pytest.mark.slow
def test_a_second_signal_exits_at_once_and_rolls_back_the_chunk_being_stored(
    pg_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    """The feed is a pipe; once the first chunk is stored, the test holds a lock on
    the job's row, so the next chunk's transaction waits. A first SIGTERM cannot end
    that wait; a second one exits at once: the waiting chunk is rolled back, the
    committed one stays with its counts, the job is left ``enqueuing``, and
    ``reconcile`` queues its articles once Redis has lost them."""
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        lines = generated_feed(tmp_path / "rows.csv", 1000).read_text(encoding="utf-8")
        header_and_rows = lines.splitlines(keepends=True)
        feed = tmp_path / "feed.csv"
        os.mkfifo(feed)
        enqueue = subprocess.Popen(
            newsclf_cmd("enqueue", str(feed)), env=service.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        with open(feed, "w", encoding="utf-8") as pipe, psycopg.connect(pg_url) as lock:
            pipe.writelines(header_and_rows[:101])  # the first chunk (64 rows) and a few
            pipe.flush()
            wait_for(lambda: service.sql("SELECT id FROM jobs WHERE total = 64"), "chunk 1")
            lock.execute("SELECT id FROM jobs FOR UPDATE")  # held until the rollback below
            # Past the second chunk's end (row 192), and less than a pipe's buffer: the
            # test must not block on a reader that waits for the test's lock.
            pipe.writelines(header_and_rows[101:251])
            pipe.flush()
            wait_for(
                lambda: service.sql(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ),
                "the next chunk's transaction to wait for the job's row",
            )
            enqueue.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the first one is taken in; the enqueue still waits
            assert enqueue.poll() is None
            enqueue.send_signal(signal.SIGTERM)
            _, err = enqueue.communicate(timeout=120)
            lock.rollback()
        wait_for(
            lambda: not service.sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle'"
            ),
            "the killed enqueue's transaction to end",
        )
        print(f"\nFAULT two SIGTERMs at enqueue: exit {enqueue.returncode}; {err.strip()!r}")
        assert enqueue.returncode == 143 and "Traceback" not in err
        assert err.strip().splitlines() == [
            "SIGTERM again: exiting at once; rows not committed yet are rolled back, what was "
            "stored stays; run the same command again to resume"
        ]
        [job] = service.sql(
            "SELECT j.status, j.total, j.new, "
            "(SELECT count(*) FROM job_articles ja WHERE ja.job_id = j.id) AS articles FROM jobs j"
        )
        stored = sorted(r.id for r in service.sql("SELECT id FROM articles"))
        assert (job.status, job.total, job.new, job.articles, len(stored)) == (
            "enqueuing", 64, 64, 64, 64,
        )  # fmt: skip
        assert queued_ids(redis_url) == stored

        redis.Redis.from_url(redis_url).delete("classify")  # Redis loses the messages
        later = service.cli("reconcile", "--json")
        assert later.returncode == 0, later.stderr
        assert json.loads(later.stdout.strip().splitlines()[-1])["republished"] == 64
        assert queued_ids(redis_url) == stored
