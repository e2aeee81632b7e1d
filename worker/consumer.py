"""The worker's message boundary: a gate before Celery reads a message, and the merged batch.

``GuardedConsumer`` (the app's ``worker_consumer``) decodes every message and
checks it with ``worker.messages.check_message`` before any Celery strategy sees
it. A message it refuses is logged once, on one line with why, and discarded
(rejected without requeue: a bad message is bad on every worker, so it is never
redelivered; the line holds its id and the start of its body). Anything a valid
message still makes Celery raise is caught the same way, so no message can end
the worker.

``MergedBatches`` is the ``classify`` task's base: celery-batches merges the
messages that arrive close together into one call; its ``flush`` runs that call
here, in the worker's main thread (the solo pool), and acks the messages after the
predictions are written. If the worker is told to stop while the call waits for
the database (``worker.retry.ShuttingDown``), the messages go back to the queue at
once instead, for another worker to take.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from celery.worker.consumer import Consumer
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task
from vine import promise

from newsclf.worker.messages import BadMessage, check_message, id_cap, short_repr
from newsclf.worker.retry import ShuttingDown

log = logging.getLogger("newsclf.worker")

BODY_CHARS = 120
"""How much of a refused message's body its log line shows."""


class GuardedConsumer(Consumer):
    """Celery's consumer with ``check_message`` in front of every task message."""

    def create_task_handler(self, promise: type = promise) -> Callable[[Any], None]:
        celery_handler = super().create_task_handler(promise)
        cap = id_cap(self.app.conf.newsclf_settings)

        def on_task_received(message: Any) -> None:
            consumed = set(self.app.amqp.queues.consume_from or ())
            if not _admitted(message, consumed, cap):
                return
            try:
                celery_handler(message)
            except Exception as exc:  # a message must never end the worker
                _refuse(message, f"{type(exc).__name__}: {_first_line(exc)}")

        return on_task_received


def _admitted(message: Any, consumed: Collection[str], cap: int) -> bool:
    """Whether ``message`` may go on to Celery; refuse it (log, discard) if not."""
    try:
        headers = message.headers
        if not isinstance(headers, dict):
            raise BadMessage("headers are not an object")
        try:
            body = message.decode()  # cached: Celery reads this same object
        except Exception as exc:
            raise BadMessage(f"body unreadable: {type(exc).__name__}: {_first_line(exc)}") from None
        info = message.delivery_info if isinstance(message.delivery_info, dict) else {}
        check_message(
            headers.get("task"),
            body,
            headers,
            routing_key=info.get("routing_key"),
            consumed=consumed,
            id_cap=cap,
        )
    except BadMessage as exc:
        _refuse(message, str(exc))
        return False
    except Exception as exc:  # anything odd about the message itself
        _refuse(message, f"{type(exc).__name__}: {_first_line(exc)}")
        return False
    return True


def _refuse(message: Any, why: str) -> None:
    """One log line, then the message is dropped from the queue for good."""
    headers = getattr(message, "headers", None)
    headers = headers if isinstance(headers, dict) else {}
    info = getattr(message, "delivery_info", None)
    info = info if isinstance(info, dict) else {}
    body = getattr(message, "body", b"")
    properties = getattr(message, "properties", None)
    message_id = headers.get("id") or (
        properties.get("correlation_id") if isinstance(properties, dict) else None
    )
    log.warning(
        "message refused task=%s id=%s queue=%s: %s; discarded (body %s)",
        short_repr(headers.get("task"), 40),
        short_repr(message_id, 60),
        short_repr(info.get("routing_key"), 30),
        why,
        short_repr(body, BODY_CHARS),
    )
    try:
        if not message.acknowledged:
            message.reject(requeue=False)
    except Exception as exc:  # the connection is gone: Redis redelivers it, refused again
        log.warning("could not discard the refused message: %s", _first_line(exc))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


HAND_BACK = "newsclf: hand the batch back"
"""What a merged task returns to have its messages requeued instead of acked."""


class MergedBatches(Batches):
    """celery-batches' merging, with the call run here and the acks decided here.

    The worker runs the solo pool, so the merged call runs in this thread
    whatever pool celery-batches would hand it to; running it directly lets a
    shutdown (``ShuttingDown``) hand the messages back instead of acking them.
    """

    abstract = True

    def flush(self, requests: Collection[Any]) -> None:
        requests = list(requests)
        try:
            simple = [SimpleRequest.from_request(r) for r in requests]
            # The task returns HAND_BACK rather than raising ShuttingDown through
            # celery-batches' tracer, which cannot report a BaseException.
            if apply_batches_task(self, (simple,), 0, None) == HAND_BACK:
                raise ShuttingDown
        except ShuttingDown:
            for request in requests:
                request.reject(requeue=True)
            log.warning(
                "merged batch of %d messages handed back to the queue: the worker is stopping",
                len(requests),
            )
            return
        except Exception:  # as a failed batch: acked, `reconcile` re-enqueues what is missing
            log.exception("merged batch of %d messages could not run", len(requests))
        for request in requests:
            request.acknowledge()
