"""Celery tasks: thin wrappers that take ids, call library code, log the outcome.

``newsclf.classify`` messages carry ``article_ids`` (never texts: the database
is the source of truth). Messages that arrive close together are merged by
celery-batches into one call of ``classify`` (up to ``merge_size`` articles
or ``batch_wait_s`` of waiting) and handed to ``worker.batch.Classifier``.

Every message was checked before it reached a batch (``worker.consumer``), so
the ids here are well-formed. A merged batch is acked even when it raises (see
``MergedBatches``), so nothing here may raise on a fault that a retry would
mend: lost database connections are retried inside the Classifier, poison
articles are isolated there, and if anything else escapes, ``reconcile``
re-enqueues what has no prediction. Only a shutdown while the database is
away (``ShuttingDown``) is different: its messages go back to the queue.
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery.exceptions import WorkerShutdown
from celery.signals import worker_init, worker_ready, worker_shutdown, worker_shutting_down

from newsclf.lifetime import lives_until_exit
from newsclf.settings import Settings
from newsclf.worker.app import app, messages_per_merge
from newsclf.worker.consumer import HAND_BACK, MergedBatches
from newsclf.worker.retry import ShuttingDown, retry_db, stop_waiting

log = logging.getLogger("newsclf.worker")

_settings: Settings = app.conf.newsclf_settings


def _text_hook(spec: str) -> Callable[[str], str] | None:
    """``module:function`` applied to each text before preprocessing (NEWSCLF_TEXT_HOOK)."""
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    fn = getattr(importlib.import_module(module), attr)
    return fn  # type: ignore[no-any-return]


@functools.cache
def sessions() -> Any:
    """This process's session factory (engine made once, on first use)."""
    from newsclf.schema.db import make_engine, session_factory

    return session_factory(make_engine(_settings.database_url))


@functools.cache
def metrics() -> Any:
    """This process's metrics (``worker.metrics``), the queue depth read at each scrape."""
    from newsclf.worker.backpressure import queued_articles
    from newsclf.worker.metrics import Metrics
    from newsclf.worker.probes import broker_client

    client = broker_client(_settings.broker_url)
    return Metrics(queue_depth=lambda: queued_articles(client, task_chunk=_settings.task_chunk))


_heartbeat: Any = None
"""This worker's ``worker.heartbeat.Heartbeat`` once it started (None before)."""


@worker_init.connect
def _serve_probes(sender: Any = None, **_: Any) -> None:
    """Metrics and probes on NEWSCLF_METRICS_PORT (``/readyz`` 503 until the model is
    warm), and the heartbeat ``newsclf status`` reads, before the model loads."""
    global _heartbeat
    from newsclf.worker.heartbeat import Heartbeat
    from newsclf.worker.probes import Probes, broker_client, service_check

    if _settings.metrics_port:
        check = service_check(sessions(), _settings.broker_url)
        Probes(metrics(), check=check, needs_model=True).serve(_settings.metrics_port)
    name = getattr(sender, "hostname", None) or "worker"
    _heartbeat = Heartbeat(broker_client(_settings.broker_url), str(name))
    _heartbeat.start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()


@functools.cache
def classifier() -> Any:
    """This process's Classifier: engine, sessions and model made once, on first use."""
    # TensorFlow and Keras live as long as the worker. Models load after the
    # freeze, so one that a promotion replaces is still collected.
    with lives_until_exit():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        from newsclf.worker.active_model import ActiveModel
        from newsclf.worker.batch import Classifier, configure_tensorflow

    configure_tensorflow(_settings.tf_threads)  # before TensorFlow runs anything
    return Classifier(
        sessions(),
        ActiveModel(sessions(), _settings),
        settings=_settings,
        text_hook=_text_hook(_settings.text_hook),
        metrics=metrics() if _settings.metrics_port else None,
    )


@worker_shutting_down.connect
def _stop_waiting(**_: Any) -> None:
    """SIGTERM/SIGINT: every wait for the database ends now (see ``worker.retry``)."""
    stop_waiting()


@worker_ready.connect
def _load_model_at_start(**_: Any) -> None:
    """Load the active model before the first message, so `ready` means ready to label.

    On a database that has no tables the worker exits non-zero with the CLI's one
    line; while the database is unreachable it waits (and SIGTERM ends the wait)."""
    from newsclf.errors import NO_TABLES, NoModelError

    try:
        if not retry_db(_has_tables, what="start"):
            log.error("%s", NO_TABLES)
            raise WorkerShutdown(1)
        version = classifier().warm_up().version
        if _heartbeat is not None:
            _heartbeat.model_version = version
    except ShuttingDown:
        from celery.worker import state

        log.info("stopping before the model was loaded")
        # Not `ready.` (the worker never was); the exit code the signal asked for.
        raise WorkerShutdown(state.should_stop or 0) from None
    except NoModelError as exc:
        log.warning("%s; the worker waits and checks again at the first batch", exc)


def _has_tables() -> bool:
    from newsclf.schema.db import has_table

    with classifier().sessions() as session:
        return has_table(session.connection(), "model_versions")


@app.task(
    name="newsclf.classify",
    base=MergedBatches,
    flush_every=messages_per_merge(_settings),
    flush_interval=_settings.batch_wait_s,
    acks_late=True,
)
def classify(requests: list[Any]) -> str | None:
    """Classify the articles of every merged request in one go (``HAND_BACK``: requeue them)."""
    ids: list[int] = []
    for request in requests:
        ids.extend(request.kwargs.get("article_ids", ()))
    batch_id = uuid.uuid4().hex[:12]
    if _settings.metrics_port:
        _observe_queue_waits(requests)
    if _heartbeat is not None:
        _heartbeat.busy(len(ids))
    try:
        outcome = classifier().classify(ids, batch_id=batch_id)
    except ShuttingDown:  # stopping while the database is away: another worker takes them
        return HAND_BACK
    except Exception:
        # Acked anyway (MergedBatches); the database still knows what is missing.
        log.exception(
            "batch %s of %d articles failed; `newsclf reconcile` will re-enqueue them",
            batch_id,
            len(ids),
        )
        return None
    finally:
        if _heartbeat is not None:
            _heartbeat.idle()
    if _heartbeat is not None:
        _heartbeat.model_version = outcome.version
    fields = {
        "batch_id": batch_id,
        "messages": len(requests),
        "articles": outcome.requested,
        "inserted": outcome.inserted,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
        "model_version": outcome.version,
        "seconds": outcome.seconds,
    }
    log.info(
        "merged %s", " ".join(f"{k}={v}" for k, v in fields.items()), extra={"fields": fields}
    )
    return None


def _observe_queue_waits(requests: list[Any]) -> None:
    """How long each message waited, from its publish time (a header) to now."""
    from newsclf.worker.publish import PUBLISHED_HEADER

    now = time.time()
    waits, sizes = [], []
    for request in requests:
        published = (getattr(request, "request_dict", None) or {}).get(PUBLISHED_HEADER)
        if isinstance(published, int | float) and not isinstance(published, bool):
            waits.append(now - float(published))
            sizes.append(len(request.kwargs.get("article_ids", ())))
    if waits:
        metrics().queue_waits(waits, sizes)


@app.task(name="newsclf.reconcile", acks_late=False)
def reconcile_task() -> dict[str, Any]:
    """Beat's periodic reconcile: re-publish what the database says is missing."""
    from newsclf.worker.backpressure import has_room, held_by_job
    from newsclf.worker.publish import CeleryPublisher
    from newsclf.worker.reconcile import in_flight_ids, reconcile

    with app.connection_for_read() as conn:
        in_flight = in_flight_ids(conn.default_channel.client)
        held = held_by_job(conn.default_channel.client)  # their enqueue publishes them
    with CeleryPublisher(app) as publisher:
        report = reconcile(
            sessions=classifier().sessions,
            publisher=publisher,
            in_flight=in_flight,
            has_room=has_room(_settings),
            held=held,
        )
    log.info(
        "reconcile jobs=%s republished=%d held_back=%d in_flight=%d finished=%s",
        report.jobs,
        report.republished,
        report.held_back,
        report.in_flight,
        report.finished,
    )
    return report.__dict__


# -- retraining (issue 4) ---------------------------------------------------------


@app.task(name="newsclf.retrain", bind=True, acks_late=False)
def retrain_task(self: Any, trigger: str = "beat") -> dict[str, Any]:
    """Train a challenger on base + feedback data; promote it if the gate allows.

    Not acked late: a worker that dies mid-training does not get the run again
    (the ``running`` row goes stale instead). The run's ``request_id`` is this
    task's id, so ``newsclf retrain --wait`` finds it. Two runs never overlap:
    the database admits one ``running`` row (see ``worker.retrain``)."""
    from newsclf.worker.retrain import retrain

    try:
        outcome = retrain(
            classifier().sessions, _settings, trigger=trigger, request_id=self.request.id
        )
    except Exception as exc:  # recorded in training_runs by retrain(); log, do not retry
        log.exception("retrain failed: %s", exc)
        return {"status": "failed", "reason": (str(exc).splitlines() or [""])[0]}
    return outcome.as_dict()
