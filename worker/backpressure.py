"""How full the ``classify`` queue is, in articles, and waiting for room in it
(``NEWSCLF_QUEUE_LIMIT``).

Counting the ids of every waiting message would read the whole queue; instead
the depth is ``LLEN classify`` times ``task_chunk`` (publishers put at most
that many ids in a message): an upper bound, exact while jobs publish full
messages, one round trip whatever the queue holds::

    queued_articles(client, task_chunk=256)   # 2 messages waiting -> 512
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from typing import Any

from newsclf.worker.messages import CLASSIFY_QUEUE


def queued_articles(client: Any, *, task_chunk: int, queue: str = CLASSIFY_QUEUE) -> int:
    """Articles waiting in ``queue`` (not those a worker holds unacked): an upper bound."""
    return int(client.llen(queue)) * task_chunk


HELD_PREFIX = "newsclf:held:"
"""Redis key of a job's stored-but-unpublished article count while its enqueue waits."""

HELD_TTL_S = 30
"""Seconds a held count lives unless the waiting enqueue renews it (it does each poll)."""

POLL_S = 0.5
"""Seconds between two looks at the queue while waiting for room."""


class LimitedPublisher:
    """A publisher that keeps the ``classify`` queue under ``limit`` articles.

    ``publish`` never waits: what does not fit is held (ids only, in order), so
    the enqueue goes on storing rows. ``drain`` then publishes the held messages
    as room appears, each once, and says once that it waits (``on_wait``). While
    it holds any, a key with a time to live (``HELD_PREFIX`` + job id, renewed)
    holds the count: ``status`` shows it, and ``reconcile`` leaves that job to
    this enqueue, so nothing is published twice; if the enqueue dies, the key
    expires and ``reconcile`` publishes what it held."""

    def __init__(
        self,
        publisher: Any,
        *,
        limit: int,
        client: Any,
        task_chunk: int,
        on_wait: Callable[[str], None] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.publisher = publisher
        self.limit = limit
        self.client = client
        self.task_chunk = task_chunk
        self.on_wait = on_wait
        self.poll_s = poll_s
        self._held: collections.deque[list[int]] = collections.deque()
        self.held_articles = 0

    def __getattr__(self, name: str) -> Any:  # messages, ... of the wrapped publisher
        return getattr(self.publisher, name)

    job_id: int | None = None

    def bind_job(self, job_id: int) -> None:
        """The job whose messages this publisher holds (its Redis key says so)."""
        self.job_id = job_id

    def publish(self, article_ids: Sequence[int]) -> None:
        ids = [int(i) for i in article_ids]
        self._held.append(ids)
        self.held_articles += len(ids)
        self._release()
        if self._held:
            self._say_held()

    def _say_held(self) -> None:
        """Renew the job's held count in Redis: ``status`` shows it, ``reconcile`` leaves
        the job to this enqueue while the key lives."""
        if self.job_id is not None:
            self.client.set(f"{HELD_PREFIX}{self.job_id}", self.held_articles, ex=HELD_TTL_S)

    def _release(self) -> None:
        """Publish held messages, oldest first, while the queue is under the limit."""
        while self._held and queued_articles(self.client, task_chunk=self.task_chunk) < self.limit:
            ids = self._held[0]
            self.publisher.publish(ids)
            self._held.popleft()
            self.held_articles -= len(ids)

    def drain(self, *, job_id: int, stop: Callable[[], bool] = lambda: False) -> None:
        """Wait until every held message is published (or ``stop()``: they stay stored,
        and ``reconcile`` publishes them once the job is over)."""
        said = False
        self.job_id = job_id
        try:
            while True:
                self._release()
                if not self._held or stop():
                    return
                self._say_held()
                if not said and self.on_wait is not None:
                    said = True
                    self.on_wait(
                        f"the classify queue is at NEWSCLF_QUEUE_LIMIT={self.limit} articles: "
                        f"job {job_id} is stored; {self.held_articles} of its articles wait "
                        "for room before they are published"
                    )
                time.sleep(self.poll_s)
        finally:
            self.client.delete(f"{HELD_PREFIX}{job_id}")


def limited(publisher: Any, settings: Any, *, on_wait: Callable[[str], None] | None = None) -> Any:
    """``publisher`` under ``queue_limit`` (``LimitedPublisher``), or as is when there is none."""
    if not settings.queue_limit:
        return publisher
    from newsclf.worker.probes import broker_client

    return LimitedPublisher(
        publisher,
        limit=settings.queue_limit,
        client=broker_client(settings.broker_url),
        task_chunk=settings.task_chunk,
        on_wait=on_wait,
    )


def has_room(settings: Any) -> Callable[[], bool]:
    """Whether the queue is under ``queue_limit`` now (always, without a limit)."""
    if not settings.queue_limit:
        return lambda: True
    from newsclf.worker.probes import broker_client

    client = broker_client(settings.broker_url)
    return lambda: queued_articles(client, task_chunk=settings.task_chunk) < settings.queue_limit


def held_by_job(client: Any) -> dict[int, int]:
    """Stored-but-unpublished articles of each job whose enqueue is waiting for room."""
    keys = sorted(client.scan_iter(match=HELD_PREFIX + "*", count=1000))
    if not keys:
        return {}
    out = {}
    for key, value in zip(keys, client.mget(keys), strict=True):
        if value is not None:
            name = key.decode() if isinstance(key, bytes) else str(key)
            out[int(name[len(HELD_PREFIX) :])] = int(value)
    return out
