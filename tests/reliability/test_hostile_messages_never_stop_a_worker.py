"""Whatever lands on the ``classify`` queue, a worker keeps running: a corpus of bad
messages is published straight to Redis (kombu, as any client could), between good
ones; the same worker process labels every good article, logs each bad message
once with why, runs no task from the wrong queue, and leaves nothing behind.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from faults import assert_alive, bbc_texts, make_service, wait_for
from servers import own_redis_db

GOOD_MESSAGES = 8
IDS_PER_GOOD_MESSAGE = 5


def corpus(article: int) -> list[dict[str, Any]]:
    """Bad messages: ``body`` (JSON unless ``raw``), headers to change, and the routing key.

    ``article`` is a real article id, so a message refused for one bad field
    is refused for that field and not for pointing at nothing."""
    good_kwargs = {"article_ids": [article]}
    return [
        {"why": "a dict body", "body": {"foo": 1}},
        {"why": "a string body read as digits", "body": "23"},
        {"why": "a number body", "body": 23},
        {"why": "an empty list body", "body": []},
        {"why": "a body of two items", "body": [[], good_kwargs]},
        {"why": "ids as positional args", "body": [[[article]], {}, {}]},
        {"why": "a string as positional arg", "body": [["abc"], {}, {}]},
        {"why": "a string id", "body": [[], {"article_ids": ["abc"]}, {}]},
        {"why": "a 20-digit id", "body": [[], {"article_ids": [12345678901234567890]}, {}]},
        {"why": "a negative id", "body": [[], {"article_ids": [-5]}, {}]},
        {"why": "id zero", "body": [[], {"article_ids": [0]}, {}]},
        {"why": "a bool id", "body": [[], {"article_ids": [True]}, {}]},
        {"why": "a float id", "body": [[], {"article_ids": [1.5]}, {}]},
        {"why": "a nested id list", "body": [[], {"article_ids": [[article, article]]}, {}]},
        {"why": "ids as a string", "body": [[], {"article_ids": "123"}, {}]},
        {"why": "ids as a dict", "body": [[], {"article_ids": {"a": 1}}, {}]},
        {"why": "a huge id list", "body": [[], {"article_ids": list(range(1, 100_001))}, {}]},
        {"why": "an unknown kwarg", "body": [[], {"article_ids": [article], "extra": 1}, {}]},
        {"why": "no article_ids", "body": [[], {}, {}]},
        {"why": "a callback", "body": [[], good_kwargs, {"callbacks": [{"task": "newsclf.retrain"}]}]},
        {"why": "an embed of the wrong type", "body": [[], good_kwargs, "x"]},
        {"why": "an eta far ahead", "body": [[], good_kwargs, {}], "headers": {"eta": "2099-01-01T00:00:00"}},
        {"why": "garbage expires", "body": [[], good_kwargs, {}], "headers": {"expires": "soon"}},
        {"why": "garbage timelimit", "body": [[], good_kwargs, {}], "headers": {"timelimit": "x"}},
        {"why": "an unknown task", "body": [[], good_kwargs, {}], "headers": {"task": "newsclf.nope"}},
        {"why": "a Celery built-in task", "body": [[], {}, {}], "headers": {"task": "celery.backend_cleanup"}},
        {"why": "retrain on classify", "body": [[], {}, {}], "headers": {"task": "newsclf.retrain"}},
        {"why": "retrain with an unknown kwarg", "body": [[], {"evil": 1}, {}],
         "headers": {"task": "newsclf.retrain"}, "queue": "train"},
        {"why": "reconcile with arguments", "body": [[1], {}, {}], "headers": {"task": "newsclf.reconcile"}},
        {"why": "classify on train", "body": [[], good_kwargs, {}], "queue": "train"},
        {"why": "no task id", "body": [[], good_kwargs, {}], "headers": {"id": None}},
        {"why": "no task header", "body": {"foo": 1}, "headers": {"task": None}},
        {"why": "a body that is not JSON", "raw": b"{not json"},
        {"why": "a body nested 100,000 deep", "raw": b"[" * 100_000 + b"]" * 100_000},
        {"why": "a body of invalid UTF-8", "raw": b"\xff\xfe[[], {}, {}]"},
    ]  # fmt: skip


def publish_bad(conn: Any, message: dict[str, Any], marker: str) -> None:
    """``message`` on its queue as a raw kombu publish; ``marker`` is its task id."""
    from kombu import Queue

    queue = message.get("queue", "classify")
    headers = {"lang": "py", "task": "newsclf.classify", "id": marker, "root_id": marker,
               "parent_id": None, "group": None, "retries": 0, "eta": None, "expires": None}  # fmt: skip
    headers.update(message.get("headers", {}))
    headers = {k: v for k, v in headers.items() if not (k in ("task", "id") and v is None)}
    options: dict[str, Any] = {"serializer": "json"}
    body = message.get("body")
    if "raw" in message:
        body = message["raw"]
        options = {"content_type": "application/json", "content_encoding": "utf-8"}
    conn.Producer().publish(
        body, exchange="", routing_key=queue, declare=[Queue(queue)], headers=headers,
        correlation_id=marker, **options,
    )  # fmt: skip


def store_articles(database_url: str, texts: list[str]) -> list[int]:
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.db import make_engine, session_factory

    engine = make_engine(database_url)
    with session_factory(engine).begin() as session:
        rows = upsert_articles(session, [{"text": t, "source": "hostile-test"} for t in texts])
    engine.dispose()
    return [article_id for article_id, _ in rows]


@pytest.mark.slow
def test_a_corpus_of_bad_messages_between_good_ones_never_stops_the_worker(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    import redis
    from kombu import Connection

    from newsclf.settings import Settings
    from newsclf.worker.app import make_app
    from newsclf.worker.publish import CeleryPublisher

    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        ids = store_articles(pg_url, bbc_texts(bbc_csv, GOOD_MESSAGES * IDS_PER_GOOD_MESSAGE))
        bad = corpus(ids[0])
        worker = start_worker(service.env)
        pid = worker.proc.pid

        # One burst, good and bad interleaved, so they arrive together and merge.
        markers = [f"bad-{i:02d}-{uuid.uuid4().hex[:8]}" for i in range(len(bad))]
        app = make_app(Settings(broker_url=redis_url, database_url=pg_url))
        good = [ids[i : i + IDS_PER_GOOD_MESSAGE] for i in range(0, len(ids), IDS_PER_GOOD_MESSAGE)]
        with Connection(redis_url) as conn, CeleryPublisher(app) as publisher:
            for i, (message, marker) in enumerate(zip(bad, markers, strict=True)):
                publish_bad(conn, message, marker)
                if i % 4 == 0 and good:
                    publisher.publish(good.pop())
            # And retrain sent to classify the way a misrouting client would.
            retrain_id = f"retrain-{uuid.uuid4().hex[:8]}"
            app.send_task("newsclf.retrain", kwargs={"trigger": "cli"}, task_id=retrain_id,
                          queue="classify")  # fmt: skip
            for chunk in good:
                publisher.publish(chunk)
        markers.append(retrain_id)

        wait_for(
            lambda: (
                assert_alive(worker)
                or service.sql("SELECT count(DISTINCT article_id) AS n FROM predictions")[0].n
                == len(ids)
            ),
            "every good article to be labeled",
            timeout=180,
        )
        client = redis.Redis.from_url(redis_url)
        wait_for(
            lambda: client.llen("classify") == client.llen("train") == client.hlen("unacked") == 0,
            "nothing left on the queues or unacked",
            timeout=60,
        )
        log = worker.log()
        refused = [line for line in log.splitlines() if "message refused" in line]
        print(f"\nHOSTILE {len(bad) + 1} bad messages refused, e.g.:\n" + "\n".join(refused[:6]))
        for message, marker in zip([*bad, {"why": "retrain via send_task"}], markers, strict=True):
            lines = [line for line in refused if f"id='{marker}'" in line]
            assert len(lines) == 1, f"{message['why']}: logged {len(lines)} times:\n{lines}"
        assert worker.proc.poll() is None and worker.proc.pid == pid
        assert "Unrecoverable error" not in log and "Traceback" not in log
        assert service.sql("SELECT count(*) AS n FROM training_runs")[0].n == 0
        assert service.sql("SELECT count(*) AS n FROM predictions")[0].n == len(ids)
