"""``newsclf status`` during an enqueue that is held mid-feed (its feed is a pipe
the test writes in parts) while a real worker labels what is stored: the job's
counts match the stored rows at every look, and it is not finished early.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from faults import make_service, wait_for
from servers import own_redis_db
from services import newsclf_cmd
from test_interrupted_enqueue_resumes import generated_feed

PARTS = 3
ROWS_PER_PART = 1000


def job_seen(service, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    """The job as ``newsclf status --json`` shows it, with its stored job_articles rows."""
    result = service.cli("status", "--job", str(job_id), "--json")
    assert result.returncode == 0, result.stderr
    [job] = json.loads(result.stdout.strip().splitlines()[-1])["jobs"]
    [(articles,)] = service.sql("SELECT count(*) FROM job_articles WHERE job_id = :j", j=job_id)
    return {**job, "articles": articles}


@pytest.mark.slow
def test_status_shows_true_counts_while_an_enqueue_is_held_mid_feed(
    pg_url: str, tiny_artifact: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        start_worker(service.env)
        lines = generated_feed(tmp_path / "rows.csv", PARTS * ROWS_PER_PART).read_text(
            encoding="utf-8"
        ).splitlines(keepends=True)
        header, rows = lines[0], lines[1:]
        feed = tmp_path / "feed.csv"
        os.mkfifo(feed)
        enqueue = subprocess.Popen(
            newsclf_cmd("enqueue", str(feed), "--json"), env=service.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        seen = []
        with open(feed, "w", encoding="utf-8") as pipe:
            pipe.write(header)
            for part in range(PARTS):
                pipe.writelines(rows[part * ROWS_PER_PART : (part + 1) * ROWS_PER_PART])
                pipe.flush()  # enqueue reads these, stores what fills a chunk, waits for more
                before = seen[-1]["articles"] if seen else 0

                def caught_up(before: int = before) -> list:
                    return service.sql(
                        "SELECT j.id FROM jobs j WHERE (SELECT count(*) FROM job_articles ja "
                        "WHERE ja.job_id = j.id AND EXISTS (SELECT 1 FROM predictions p "
                        "WHERE p.article_id = ja.article_id)) > :before",
                        before=before,
                    )

                [(job_id,)] = wait_for(caught_up, "the worker to label the new stored rows")
                job = job_seen(service, job_id)
                seen.append(job)
                assert job["status"] == "enqueuing", job  # not done while its feed is read
                assert job["total"] == job["new"] + job["duplicate"] + job["rejected"]
                assert job["total"] == job["articles"] > before  # no repeats, no rejects here
                assert 0 < job["labeled"] <= job["total"] and job["pending"] >= 0
                assert job["labeled"] + job["failed"] + job["pending"] == job["articles"]
        out, err = enqueue.communicate(timeout=300)
        print("\nFAULT enqueue held mid-feed: status showed " + "; ".join(
            f"{j['status']} total {j['total']} labeled {j['labeled']} pending {j['pending']}"
            for j in seen
        ))  # fmt: skip
        assert enqueue.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["total"] == PARTS * ROWS_PER_PART
        done = service.wait_done(seen[-1]["job_id"])
        assert done["total"] == done["labeled"] == PARTS * ROWS_PER_PART


