"""The Celery app: Redis broker, JSON only, late acks, one ``classify`` queue.

Start a worker with ``newsclf worker`` or, equivalently::

    celery -A newsclf.worker.app worker --pool solo -Q classify,train --loglevel INFO

The solo pool keeps the model in the process that consumes the queue (loaded
once, reloaded between batches on promotion) and lets TensorFlow use every
core for its batches; run more worker processes to scale out.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab

from newsclf.settings import Settings, get_settings
from newsclf.worker.logs import install as install_log_format
from newsclf.worker.messages import CLASSIFY_QUEUE, TASK_QUEUES, TRAIN_QUEUE

__all__ = ["CLASSIFY_QUEUE", "TRAIN_QUEUE", "app", "make_app"]


def make_app(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``; connects to nothing until used."""
    app = Celery("newsclf", broker=settings.broker_url, include=["newsclf.worker.tasks"])
    app.conf.update(
        # JSON only: a message can never make a worker unpickle anything.
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        # At-least-once: ack after the batch is written; a dead worker's
        # messages come back after the visibility timeout. Results are
        # idempotent (unique per article and model version).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One merged batch running, the next one waiting: the worker never idles.
        worker_prefetch_multiplier=2 * messages_per_merge(settings),
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            # kombu sweeps for expired unacked messages only every interval x
            # throttle seconds (10 x 10 by default): a dead worker's batch would
            # wait up to 100 s past its visibility timeout. Sweep a few times per
            # timeout instead (one ZRANGE under a Redis lock each).
            "unacked_restore_interval": restore_interval_s(settings.visibility_timeout_s),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # Each task has one queue; the worker runs it only from there (worker.messages).
        task_routes={task: {"queue": queue} for task, queue in TASK_QUEUES.items()},
        task_default_queue=CLASSIFY_QUEUE,
        # Every message is checked before Celery reads it (worker.consumer).
        worker_consumer="newsclf.worker.consumer:GuardedConsumer",
        # Events on, so Flower and `newsclf status` see workers and tasks.
        worker_send_task_events=True,
        task_send_sent_event=False,
    )
    app.conf.beat_schedule = beat_schedule(settings)
    app.conf.newsclf_settings = settings
    install_log_format(settings.log_format)
    return app


def messages_per_merge(settings: Settings) -> int:
    """Messages merged into one ``classify`` call: ``merge_size`` articles in messages of
    ``task_chunk`` ids, at least one."""
    return max(1, settings.merge_size // settings.task_chunk)


def restore_interval_s(visibility_timeout_s: int) -> int:
    """Seconds between sweeps that redeliver expired unacked messages: a quarter of
    the visibility timeout, between 1 and 30."""
    return max(1, min(30, visibility_timeout_s // 4))


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic tasks from settings: reconcile, and retraining when configured."""
    schedule: dict[str, dict[str, Any]] = {}
    if settings.reconcile_every_s > 0:
        schedule["reconcile"] = {"task": "newsclf.reconcile", "schedule": settings.reconcile_every_s}
    if settings.retrain_crontab.strip():
        minute, hour, day_of_month, month_of_year, day_of_week = settings.retrain_crontab.split()
        every: Any = crontab(minute, hour, day_of_week, day_of_month, month_of_year)
        schedule["retrain"] = {"task": "newsclf.retrain", "schedule": every}
    elif settings.retrain_every_s > 0:
        # A run that waited a whole interval is stale: the next one is due anyway
        # (without this, runs longer than the interval pile up on the queue).
        schedule["retrain"] = {
            "task": "newsclf.retrain",
            "schedule": settings.retrain_every_s,
            "options": {"expires": settings.retrain_every_s},
        }
    return schedule


app = make_app(get_settings())
"""The module-level app that ``celery -A newsclf.worker.app`` and ``newsclf worker`` run."""
