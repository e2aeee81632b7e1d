"""The embedded queue: in-process workers for ``newsclf run`` (no Redis needed).

It runs the very code of the distributed mode: ``enqueue_feeds`` publishes
article ids into it, and worker threads merge what arrives into batches of up
to ``merge_size`` articles (waiting at most ``batch_wait_s``) and hand them to
the same ``Classifier`` the Celery task uses::

    with EmbeddedQueue(classifier, settings) as queue:
        enqueue_feeds([...], sessions=sessions, publisher=queue, settings=settings)
        queue.join()
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from newsclf.settings import Settings

_STOP = object()


class EmbeddedQueue:
    """A ``Publisher`` whose consumer is a thread in this process."""

    def __init__(self, classifier: Any, settings: Settings, *, threads: int = 1) -> None:
        self.classifier = classifier
        self.merge_size = settings.merge_size
        self.batch_wait_s = settings.batch_wait_s
        self._queue: queue.Queue[Any] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._consume, daemon=True) for _ in range(threads)
        ]
        self.errors: list[BaseException] = []
        self.outcomes: list[Any] = []

    def publish(self, article_ids: Sequence[int]) -> None:
        self._queue.put(list(article_ids))

    def join(self) -> None:
        """Wait until everything published so far is classified."""
        self._queue.join()
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> EmbeddedQueue:
        for t in self._threads:
            t.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join()

    def _consume(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            ids, taken, stop = list(first), 1, False
            deadline = time.monotonic() + self.batch_wait_s
            while len(ids) < self.merge_size:  # merge what arrives close together
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                taken += 1
                if item is _STOP:
                    stop = True
                    break
                ids.extend(item)
            try:
                self.outcomes.append(self.classifier.classify(ids, batch_id=uuid.uuid4().hex[:12]))
            except BaseException as exc:  # noqa: BLE001 - surfaced by join()
                self.errors.append(exc)
            finally:
                for _ in range(taken):
                    self._queue.task_done()
            if stop:
                return
