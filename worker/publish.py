"""Publishing article ids to the ``classify`` queue over Celery.

One producer connection for a whole enqueue; each message is JSON
``{"article_ids": [...]}``. While Redis is down, publishing retries with
backoff (``PUBLISH_RETRY``) for ``broker_retry_s`` seconds before it raises
``ServiceUnavailable`` (one line); the articles are already stored, so
``newsclf reconcile`` publishes them later::

    with CeleryPublisher(app) as publisher:
        publisher.publish([1, 2, 3])
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from celery import Celery

from newsclf.errors import ServiceUnavailable
from worker.app import CLASSIFY_QUEUE

PUBLISH_RETRY = {
    "interval_start": 0.5,
    "interval_step": 1.0,
    "interval_max": 5.0,
}
"""Backoff between tries while the broker is unreachable (for ``broker_retry_s`` in all).

kombu's own publish retry does not cover reconnecting: a lost connection is
re-established with the connection's 4 s timeout and then given up, whatever
the policy says. So the connection is ensured first, with this backoff."""


class CeleryPublisher:
    """Sends ``newsclf.classify`` messages through one pooled producer."""

    def __init__(self, app: Celery, *, retry_s: float | None = None) -> None:
        self.app = app
        self.retry_s = app.conf.newsclf_settings.broker_retry_s if retry_s is None else retry_s
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
        """Send one message; ``ServiceUnavailable`` once the broker stayed unreachable
        for ``retry_s`` seconds (a message sent twice on a lost reply is harmless)."""
        import kombu.exceptions
        import redis.exceptions

        errors = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, OSError)
        deadline = time.monotonic() + self.retry_s
        while True:
            left = deadline - time.monotonic()
            try:
                self._producer.connection.ensure_connection(
                    max_retries=None if left > 0 else 0, timeout=max(left, 0.001), **PUBLISH_RETRY
                )
                self.app.send_task(
                    "newsclf.classify",
                    kwargs={"article_ids": [int(i) for i in article_ids]},
                    queue=CLASSIFY_QUEUE,
                    producer=self._producer,
                    retry=True,
                    retry_policy={"max_retries": 1, **PUBLISH_RETRY},
                )
                break
            except errors as exc:
                if time.monotonic() < deadline:
                    time.sleep(PUBLISH_RETRY["interval_start"])
                    continue
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ServiceUnavailable(
                    f"broker unreachable ({why}) after retrying for {self.retry_s:g}s"
                ) from None
        self.messages += 1


def queue_depth(app: Celery, queue: str = CLASSIFY_QUEUE) -> int:
    """Messages waiting in ``queue`` (not counting those a worker holds unacked)."""
    with app.connection_for_read() as conn:
        return int(conn.default_channel.client.llen(queue))
