"""A worker runs only what it can trust: a pickled message on the classify queue
is refused unread (its payload would run code when unpickled), and a model
artifact with a tampered file is refused with one clear log line."""

from __future__ import annotations

import json
import pathlib
import shutil
import uuid
from pathlib import Path

import pytest
from faults import assert_alive, bbc_texts, make_service, wait_for, write_csv
from servers import own_redis_db


class Payload:
    """Unpickling this touches ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def store_article(database_url: str, text: str) -> int:
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.db import make_engine, session_factory

    engine = make_engine(database_url)
    with session_factory(engine).begin() as session:
        [(article_id, _)] = upsert_articles(session, [{"text": text, "source": "pickle-test"}])
    engine.dispose()
    return article_id


@pytest.mark.slow
def test_a_pickled_message_is_refused_unread_and_its_article_stays_unlabeled(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    from kombu import Connection, Queue

    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        worker = start_worker(service.env)
        article = store_article(pg_url, bbc_texts(bbc_csv, 1)[0])
        marker = tmp_path / "unpickled"
        task_id = str(uuid.uuid4())
        with Connection(redis_url) as conn:
            conn.Producer().publish(
                ((), {"article_ids": [article], "payload": Payload(marker)}, {}),
                exchange="", routing_key="classify", declare=[Queue("classify")],
                serializer="pickle",
                headers={"lang": "py", "task": "newsclf.classify", "id": task_id,
                         "root_id": task_id, "parent_id": None, "group": None},
            )  # fmt: skip
        refusal = wait_for(
            lambda: (
                assert_alive(worker)
                or next((x for x in worker.log().splitlines() if "untrusted content" in x), None)
            ),
            "the worker to refuse the pickled message",
            timeout=120,
        )
        print(f"\nFAULT pickled message: worker logged {refusal.strip()[:160]!r}")
        assert "Refusing to deserialize untrusted content of type pickle" in refusal
        assert not marker.exists()
        assert service.sql("SELECT count(*) AS n FROM predictions")[0].n == 0

        # The same article through the front door is labeled: the worker was able to.
        from newsclf.settings import Settings
        from newsclf.worker.app import make_app
        from newsclf.worker.publish import CeleryPublisher

        app = make_app(Settings(broker_url=redis_url, database_url=pg_url))
        with CeleryPublisher(app) as publisher:
            publisher.publish([article])
        wait_for(
            lambda: (
                assert_alive(worker)
                or service.sql("SELECT count(*) AS n FROM predictions")[0].n == 1
            ),
            "the JSON message to be labeled",
        )
        assert not marker.exists() and worker.proc.poll() is None


@pytest.mark.slow
def test_a_model_artifact_with_a_tampered_file_is_refused_with_one_clear_log_line(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        version = json.loads((tiny_artifact / "MANIFEST.json").read_text())["version"]
        local = tmp_path / "models" / version  # where the worker looks first
        shutil.copytree(tiny_artifact, local)
        vocab = local / "vocab.json"
        vocab.write_bytes(vocab.read_bytes() + b" ")  # still valid JSON, not the same bytes
        worker = start_worker(service.env)
        job = service.enqueue(write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, 20)))
        refused = wait_for(
            lambda: (
                assert_alive(worker)
                or next((x for x in worker.log().splitlines() if "model refused" in x), None)
            ),
            "the worker to refuse the tampered model",
            timeout=120,
        )
        wait_for(
            lambda: assert_alive(worker) or "failed" in worker.log().split(refused, 1)[1],
            "the worker to give up the batch it cannot label",
            timeout=120,
        )
        print(f"\nFAULT tampered artifact: worker logged {refused.strip()[:300]!r}")
        assert "tampered artifact" in refused and "vocab.json" in refused
        assert service.progress(job)["labeled"] == 0
        assert "model loaded" not in worker.log()
        assert worker.proc.poll() is None
