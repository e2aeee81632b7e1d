"""Publishing article ids to the ``classify`` queue over Celery.

One producer connection for a whole enqueue; each message is JSON
``{"article_ids": [...]}``. While Redis is down, publishing retries with
backoff (``PUBLISH_RETRY``) for ``broker_retry_s`` seconds before it raises
``ServiceUnavailable`` (one line); the articles are already stored, so
``newsclf reconcile`` publishes them later. The first failure is said at once,
once, through ``on_unreachable``; a stop request (``stop.is_set()``) ends the
retrying within a second::

    with CeleryPublisher(app, on_unreachable=print) as publisher:
        publisher.publish([1, 2, 3])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol

from celery import Celery

from newsclf.errors import ServiceUnavailable
from newsclf.worker.app import CLASSIFY_QUEUE

PUBLISH_RETRY = {
    "interval_start": 0.5,
    "interval_step": 1.0,
    "interval_max": 5.0,
}
"""Backoff between tries while the broker is unreachable (for ``broker_retry_s`` in all).

kombu's own publish retry does not cover reconnecting: a lost connection is
re-established with the connection's 4 s timeout and then given up, whatever
the policy says. So the connection is ensured first, with this backoff."""


PUBLISHED_HEADER = "newsclf_published"
"""Message header: when it was published (Unix seconds), for the queue-wait metric only."""


class Publisher(Protocol):
    """Sends lists of article ids to the workers: ``CeleryPublisher`` here, or the
    in-process queue (``worker.embedded.EmbeddedQueue``)."""

    def publish(self, article_ids: Sequence[int]) -> None: ...


class Stop(Protocol):
    """Anything that says whether to stop waiting (``worker.enqueue.StopFlag``)."""

    def is_set(self) -> bool: ...


class _Stopped(Exception):
    """Raised inside kombu's retry loop to end it when a stop is requested."""


class CeleryPublisher:
    """Sends ``newsclf.classify`` messages through one pooled producer.

    ``on_unreachable(message)`` is called once, at the first failure to reach the
    broker, with one line saying it is unreachable and for how long it is retried."""

    def __init__(
        self,
        app: Celery,
        *,
        retry_s: float | None = None,
        stop: Stop | None = None,
        on_unreachable: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.retry_s = app.conf.newsclf_settings.broker_retry_s if retry_s is None else retry_s
        self.stop = stop
        self.on_unreachable = on_unreachable
        self._said_unreachable = False
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
        for ``retry_s`` seconds, or at once when a stop is requested while it is
        (a message sent twice on a lost reply is harmless)."""
        import kombu.exceptions
        import redis.exceptions

        errors = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, OSError)
        deadline = time.monotonic() + self.retry_s
        while True:
            left = deadline - time.monotonic()
            try:
                self._producer.connection.ensure_connection(
                    max_retries=None if left > 0 else 0,
                    timeout=max(left, 0.001),
                    errback=self._unreachable,
                    callback=self._check_stop,  # each second of kombu's backoff
                    **PUBLISH_RETRY,
                )
                self.app.send_task(
                    "newsclf.classify",
                    kwargs={"article_ids": [int(i) for i in article_ids]},
                    queue=CLASSIFY_QUEUE,
                    headers={PUBLISHED_HEADER: time.time()},
                    producer=self._producer,
                    retry=True,
                    retry_policy={"max_retries": 1, **PUBLISH_RETRY},
                )
                break
            except (_Stopped, *errors) as exc:
                stopped = isinstance(exc, _Stopped) or self._stopping()
                if not isinstance(exc, _Stopped):
                    self._unreachable(exc)
                if not stopped and time.monotonic() < deadline:
                    time.sleep(PUBLISH_RETRY["interval_start"])
                    continue
                why = self._last_error
                if stopped:
                    raise ServiceUnavailable(
                        f"broker unreachable ({why}); stopped retrying when asked to stop"
                    ) from None
                raise ServiceUnavailable(
                    f"broker unreachable ({why}) after retrying for {self.retry_s:g}s"
                ) from None
        self.messages += 1

    _last_error = ""

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _check_stop(self) -> None:
        if self._stopping():
            raise _Stopped

    def _unreachable(self, exc: BaseException, _interval: float = 0) -> None:
        """Remember why the broker is unreachable; say it once, when first seen."""
        self._last_error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if self._said_unreachable or self.on_unreachable is None:
            return
        self._said_unreachable = True
        self.on_unreachable(
            f"broker unreachable ({self._last_error}); retrying for up to {self.retry_s:g}s "
            "(NEWSCLF_BROKER_RETRY_S); the stored articles are kept either way"
        )


def queue_depth(app: Celery, queue: str = CLASSIFY_QUEUE) -> int:
    """Messages waiting in ``queue`` (not counting those a worker holds unacked)."""
    with app.connection_for_read() as conn:
        return int(conn.default_channel.client.llen(queue))
