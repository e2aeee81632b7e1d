"""Rebuild the queue from the database: the DB is the source of truth.

For every unfinished job (``enqueuing``, ``queued``, ``running``, or
``interrupted`` with articles still unlabeled), the articles that have no
prediction by the active model, have not failed and are not in flight (waiting
in Redis or held unacked by a worker) are published again. Run by ``newsclf reconcile`` and
periodically by beat, so a job completes even after Redis lost every message::

    report = reconcile(sessions=sessions, publisher=publisher, in_flight=in_flight_ids(client))
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.jobs import (
    finish_jobs_if_done,
    job_articles_needing_label,
    unfinished_job_ids,
)
from newsclf.schema.registry import active_model_version
from newsclf.worker.app import CLASSIFY_QUEUE

if TYPE_CHECKING:  # the protocol only; publishing imports Celery
    from newsclf.worker.publish import Publisher

UNACKED_KEY = "unacked"
"""The hash where kombu's Redis transport keeps delivered, unacked messages."""


@dataclass
class ReconcileReport:
    jobs: list[int] = field(default_factory=list)
    republished: int = 0
    in_flight: int = 0
    finished: list[int] = field(default_factory=list)
    held_back: int = 0
    """Articles not published because the queue was at ``NEWSCLF_QUEUE_LIMIT``."""


def _ids_in_payload(payload: Any) -> Iterator[int]:
    """Article ids in one kombu message as stored in Redis (JSON, body base64)."""
    try:
        message = json.loads(payload)
        if isinstance(message, list):  # unacked entries: [message, exchange, routing_key]
            message = message[0]
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)
        kwargs = args[1] if isinstance(args, list) else args.get("kwargs", {})
        yield from (int(i) for i in kwargs.get("article_ids", ()))
    except (ValueError, KeyError, TypeError, IndexError):
        return


def in_flight_ids(client: Any, queue: str = CLASSIFY_QUEUE) -> set[int]:
    """Article ids of every message waiting in ``queue`` or held unacked by a worker."""
    ids: set[int] = set()
    for key in client.scan_iter(match=f"{queue}*"):
        if client.type(key) in (b"list", "list"):
            for payload in client.lrange(key, 0, -1):
                ids.update(_ids_in_payload(payload))
    for payload in client.hvals(UNACKED_KEY):
        ids.update(_ids_in_payload(payload))
    return ids


def reconcile(
    *,
    sessions: sessionmaker[Session],
    publisher: Publisher,
    in_flight: set[int],
    chunk: int = 64,
    has_room: Callable[[], bool] = lambda: True,
    held: Collection[int] = (),
) -> ReconcileReport:
    """Re-publish what unfinished jobs still miss; finish the jobs that are done.

    Publishes only while ``has_room()`` (``NEWSCLF_QUEUE_LIMIT``): the rest is
    ``held_back`` and published by a later run (it is still missing then, and not in
    flight, so each article goes out once). Jobs in ``held`` are left alone: their
    enqueue is alive and publishes what it holds back (``worker.backpressure``)."""
    report = ReconcileReport(in_flight=len(in_flight))
    with sessions.begin() as session:
        # An interrupted job's stored articles are labeled like any other's (its enqueue
        # may have stopped between storing a chunk and publishing it); an enqueuing
        # job's too (its enqueue may have been killed), though only its enqueue finishes it.
        open_jobs = unfinished_job_ids(session)
        report.finished = finish_jobs_if_done(session, open_jobs) if open_jobs else []
        report.jobs = [j for j in open_jobs if j not in report.finished and j not in held]
        active = active_model_version(session)
        todo = (
            job_articles_needing_label(session, report.jobs, active.version)
            if active and report.jobs
            else []
        )
    todo = [i for i in todo if i not in in_flight]
    for i in range(0, len(todo), chunk):
        if not has_room():
            report.held_back = len(todo) - i
            break
        publisher.publish(todo[i : i + chunk])
        report.republished += len(todo[i : i + chunk])
    return report
