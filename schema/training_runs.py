"""The ``training_runs`` table: one row per retraining, at most one ``running``
(a partial unique index enforces it across machines). Plain functions taking
``session``; the retraining itself is ``worker.retrain``::

    with sessions.begin() as session:
        run = start_training_run(session, trigger="cli", request_id=None)
    # IntegrityError when another run is running: record_skipped_run then
    with sessions.begin() as session:
        update_training_run(session, run.id, status="done", decision="promoted")
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsclf.schema.models import TrainingRun


def start_training_run(session: Session, *, trigger: str, request_id: str | None) -> TrainingRun:
    """A new ``running`` run (flushed). Raises ``sqlalchemy.exc.IntegrityError`` when
    another run is running: the partial unique index allows one at a time."""
    run = TrainingRun(trigger=trigger, request_id=request_id, status="running")
    session.add(run)
    session.flush()
    return run


def running_training_run(session: Session) -> TrainingRun | None:
    """The run in progress, if any."""
    return session.scalars(select(TrainingRun).where(TrainingRun.status == "running")).first()


def record_skipped_run(
    session: Session, *, trigger: str, request_id: str | None, reason: str, finished_at: Any
) -> TrainingRun:
    """A run that did not start (another was running), recorded as ``skipped``."""
    run = TrainingRun(
        trigger=trigger,
        request_id=request_id,
        status="skipped",
        finished_at=finished_at,
        reason=reason,
    )
    session.add(run)
    session.flush()
    return run


def update_training_run(session: Session, run_id: int, **values: Any) -> TrainingRun:
    """Set columns of run ``run_id`` (its counts, scores, decision, ``finished_at``)."""
    run = session.get_one(TrainingRun, run_id)
    for key, value in values.items():
        setattr(run, key, value)
    return run


def training_run_of_request(session: Session, request_id: str) -> TrainingRun | None:
    """The run that ``newsclf retrain`` asked for with ``request_id``, once recorded."""
    return session.scalars(
        select(TrainingRun).where(TrainingRun.request_id == request_id)
    ).first()
