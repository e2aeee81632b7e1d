"""NEWSCLF_QUEUE_LIMIT with real Redis, PostgreSQL and workers: enqueue stores every
row at once, keeps the queue within the limit plus one message while no worker runs,
says so once, and once a worker starts every article is published and labeled once."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest
from services import newsclf_cmd, service_env

N_ARTICLES = 1000
LIMIT = 300
CHUNK = 100


def queued_ids(client) -> list[int]:  # noqa: ANN001
    from newsclf.worker.messages import CLASSIFY_QUEUE
    from newsclf.worker.reconcile import _ids_in_payload

    return [i for p in client.lrange(CLASSIFY_QUEUE, 0, -1) for i in _ids_in_payload(p)]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(newsclf_cmd(*args), env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_queue_stays_within_the_limit_and_every_article_is_labeled_once(
    pg_url: str, redis_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    import redis
    from sqlalchemy import func, select

    from newsclf.schema.articles import content_sha256
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.schema.models import Article, Prediction

    env = service_env(
        database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "models",
        queue_limit=str(LIMIT), task_chunk=str(CHUNK), log_format="json",
    )  # fmt: skip
    assert cli(env, "db", "upgrade").returncode == 0
    assert cli(env, "models", "register", str(tiny_artifact)).returncode == 0
    feed = tmp_path / "feed.csv"
    seen: set[str] = set()
    with open(bbc_csv, newline="", encoding="utf-8") as src, open(feed, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for row in csv.DictReader(src):
            key = content_sha256(row["text"])  # distinct articles, as newsclf counts them
            if key not in seen and len(seen) < N_ARTICLES:
                seen.add(key)
                writer.writerow([len(seen), row["text"]])

    stderr = tmp_path / "enqueue.err"
    with open(stderr, "w") as err:
        enqueue = subprocess.Popen(
            newsclf_cmd("enqueue", str(feed), "--json"),
            env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    sessions = session_factory(make_engine(pg_url))
    most, deadline = 0, time.monotonic() + 120
    while "NEWSCLF_QUEUE_LIMIT" not in stderr.read_text() and time.monotonic() < deadline:
        most = max(most, len(queued_ids(client)))
        assert enqueue.poll() is None, stderr.read_text()
        time.sleep(0.05)
    for _ in range(20):  # waiting: the queue stays put
        most = max(most, len(queued_ids(client)))
        time.sleep(0.05)
    # Messages of up to CHUNK ids: full at LIMIT / CHUNK messages, whatever they hold.
    assert 0 < most <= LIMIT + CHUNK
    assert client.llen("classify") == LIMIT // CHUNK
    assert stderr.read_text().count("NEWSCLF_QUEUE_LIMIT") == 1

    # Every row is stored already; status shows what waits to be published.
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == N_ARTICLES
    status = json.loads(cli(env, "status", "--json").stdout)
    assert status["jobs"][0]["unpublished"] == N_ARTICLES - len(queued_ids(client))
    # reconcile respects the limit too: nothing goes out while the queue is full.
    reconciled = json.loads(cli(env, "reconcile", "--json").stdout)
    assert reconciled["republished"] == 0

    worker = start_worker(env)
    assert enqueue.wait(180) == 0, stderr.read_text()
    assert json.loads(enqueue.stdout.read().splitlines()[-1])["published"] == N_ARTICLES
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sessions() as session:
            labeled = session.scalar(select(func.count()).select_from(Prediction))
        if labeled == N_ARTICLES:
            break
        time.sleep(0.5)
    assert labeled == N_ARTICLES
    worker.stop()
    merged = [
        json.loads(line) for line in worker.log().splitlines() if '"event": "merged"' in line
    ]
    assert sum(m["articles"] for m in merged) == N_ARTICLES  # no article published twice
