"""Publishing article ids to the ``classify`` queue over Celery.

One producer connection for a whole enqueue; each message is JSON
``{"article_ids": [...]}``. While Redis is down, publishing retries with
backoff (``PUBLISH_RETRY``) before it gives up with a one-line error; the
articles are already stored, so ``newsclf reconcile`` publishes them later::

    with CeleryPublisher(app) as publisher:
        publisher.publish([1, 2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from celery import Celery

from worker.app import CLASSIFY_QUEUE

PUBLISH_RETRY = {
    "max_retries": 12,
    "interval_start": 0.5,
    "interval_step": 1.0,
    "interval_max": 5.0,
}
"""kombu retry policy: about a minute of retrying while the broker is unreachable."""


class CeleryPublisher:
    """Sends ``newsclf.classify`` messages through one pooled producer."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._producer_cm: Any = None
        self._producer: Any = None
        self.messages = 0

    def __enter__(self) -> CeleryPublisher:
        self._producer_cm = self.app.producer_or_acquire()
        self._producer = self._producer_cm.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._producer_cm.__exit__(exc_type, exc, tb)
        self._producer = self._producer_cm = None

    def publish(self, article_ids: Sequence[int]) -> None:
        self.app.send_task(
            "newsclf.classify",
            kwargs={"article_ids": [int(i) for i in article_ids]},
            queue=CLASSIFY_QUEUE,
            producer=self._producer,
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )
        self.messages += 1


def queue_depth(app: Celery, queue: str = CLASSIFY_QUEUE) -> int:
    """Messages waiting in ``queue`` (not counting those a worker holds unacked)."""
    with app.connection_for_read() as conn:
        return int(conn.default_channel.client.llen(queue))
