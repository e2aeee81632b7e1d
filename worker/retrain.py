"""Retraining with a promotion gate, as plain Python (the Celery task and
``newsclf retrain --local`` both call it)::

    outcome = retrain(sessions, settings, trigger="cli")
    outcome.decision, outcome.reason      # 'promoted' / 'rejected' / 'failed', and why

One run: train a challenger on the base training data (``train_data``) plus
the editors' feedback labels, score the challenger and the active champion on
the same held-out set, register the challenger, and promote it only if its
accuracy is at least the champion's minus ``promotion_tolerance``.

The held-out set is ``retrain_holdout`` when set, else a stratified split of
the base data seeded by ``retrain_seed`` (the same every run while the data
stays the same); neither model's training run sees it in this run, and
feedback on a held-out text is left out of training (counted apart). A
feedback label replaces the base label of the same text. Everything lands in
``training_runs``; at most one run is in progress at a time, which a partial
unique index enforces (a second one is recorded as ``skipped``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.feedback import feedback_examples
from newsclf.schema.registry import active_model_version
from newsclf.schema.training_runs import (
    record_skipped_run,
    running_training_run,
    start_training_run,
    update_training_run,
)
from newsclf.settings import Settings

log = logging.getLogger("newsclf.retrain")

GATE_BY = "retrain-gate"
"""``model_activations.by`` of a promotion made by the gate."""


@dataclass
class RetrainOutcome:
    """What one retraining did: the ``training_runs`` row, as data."""

    run_id: int
    status: str
    decision: str | None = None
    reason: str = ""
    challenger_version: str | None = None
    champion_version: str | None = None
    data_sha256: str | None = None
    n_base: int = 0
    n_feedback: int = 0
    n_holdout: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def retrain(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    trigger: str = "cli",
    request_id: str | None = None,
    progress: Callable[[str], Any] | None = None,
) -> RetrainOutcome:
    """Run one retraining (see the module docstring); a failure is recorded, then raised."""
    run_id, busy = _start_run(sessions, settings, trigger=trigger, request_id=request_id)
    if busy is not None:
        reason = f"another retraining (run {busy}) is in progress"
        log.info("retrain skipped: %s", reason)
        return RetrainOutcome(run_id=run_id, status="skipped", reason=reason)
    say = progress or log.info
    try:
        outcome = _run(sessions, settings, run_id, say)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{type(exc).__name__}: {first}"[:1000]
        _finish(sessions, run_id, status="failed", decision="failed", reason=reason)
        log.error("retrain run=%s failed: %s", run_id, reason)
        raise
    log.info(
        "retrain run=%s decision=%s challenger=%s champion=%s n_feedback=%d: %s",
        run_id,
        outcome.decision,
        outcome.challenger_version,
        outcome.champion_version,
        outcome.n_feedback,
        outcome.reason,
    )
    return outcome


@dataclass
class TrainingSets:
    """What one run trains on and scores on."""

    rows: list[tuple[str, str]]
    """``(text, label)`` to train on: feedback first, then the base rows it does not relabel."""
    n_feedback: int
    n_feedback_held_out: int
    holdout: Any
    """``trainer.data.LabeledData`` both models are scored on."""
    holdout_source: str

    @property
    def n_base(self) -> int:
        return len(self.rows) - self.n_feedback


def training_sets(settings: Settings, feedback: list[tuple[int, str, str]]) -> TrainingSets:
    """Base data (deduplicated) split from its held-out set, plus the feedback labels.

    Feedback on a held-out text is left out of training (scoring on it would
    flatter the challenger); feedback on a base text replaces its label."""
    from newsclf.trainer.data import drop_duplicates, read_labeled, stratified_split

    base, _ = drop_duplicates(read_labeled(settings.train_data))
    if settings.retrain_holdout is not None:
        holdout = read_labeled(settings.retrain_holdout)
        base_train, _ = drop_duplicates(base, also_in=holdout.texts)
        source = str(settings.retrain_holdout)
    else:
        portion = 1 - settings.retrain_holdout_portion
        first, second = stratified_split(base.labels, portion, settings.retrain_seed)
        base_train, holdout = base.subset(first), base.subset(second)
        source = f"{settings.train_data} split seed {settings.retrain_seed}"
    held_out = set(holdout.texts)
    gold = {text: label for _, text, label in feedback if text not in held_out}
    rows = list(gold.items()) + [
        (t, label)
        for t, label in zip(base_train.texts, base_train.labels, strict=True)
        if t not in gold
    ]
    return TrainingSets(
        rows=rows,
        n_feedback=len(gold),
        n_feedback_held_out=sum(1 for _, text, _ in feedback if text in held_out),
        holdout=holdout,
        holdout_source=source,
    )


def _run(
    sessions: sessionmaker[Session], settings: Settings, run_id: int, say: Callable[[str], Any]
) -> RetrainOutcome:
    from newsclf.compare import live_evidence
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record
    from newsclf.trainer.data import labeled_rows
    from newsclf.trainer.model import ModelConfig
    from newsclf.trainer.train import train
    from newsclf.worker.artifacts import local_artifact

    config = ModelConfig.preset(settings.retrain_preset, **settings.retrain_overrides())
    with sessions() as session:
        sets = training_sets(settings, feedback_examples(session))
        champion = active_model_version(session)
        champion_version = champion.version if champion else None
        live = live_evidence(session, champion_version)  # recorded; the gate does not use it
        champion_path = (
            local_artifact(session, champion_version, settings.models_dir)
            if champion_version
            else None
        )
    holdout = sets.holdout
    _update(
        sessions,
        run_id,
        n_base=sets.n_base,
        n_feedback=sets.n_feedback,
        n_holdout=len(holdout),
        champion_version=champion_version,
    )
    say(
        f"retrain run {run_id}: {sets.n_base} base + {sets.n_feedback} feedback texts, "
        f"{len(holdout)} held out, champion {champion_version}"
    )

    # In memory, read as the category,text CSV of the same rows would be (same sha256).
    training = labeled_rows(
        ((label, text) for text, label in sets.rows), name=f"retrain run {run_id}: training set"
    )
    scored = labeled_rows(  # exactly the set the trainer scores on
        zip(holdout.labels, holdout.texts, strict=True), name=f"retrain run {run_id}: held out"
    )
    result = train(
        training, test_path=scored, config=config, models_dir=settings.models_dir, progress=say
    )
    challenger = _scores(result.evaluation)
    metrics: dict[str, Any] = {
        "challenger": {"version": result.version, **challenger},
        "champion": None,
        "holdout": {"n": len(scored), "source": sets.holdout_source, "sha256": scored.sha256},
        "tolerance": settings.promotion_tolerance,
        "n_feedback_held_out": sets.n_feedback_held_out,
        "config": config.to_json(),
        "live": live,
    }
    if champion_path is not None:
        metrics["champion"] = {"version": champion_version, **_score_model(champion_path, scored)}
    decision, reason = gate(challenger["accuracy"], metrics["champion"], settings)

    record = artifact_record(Path(result.path))
    with sessions.begin() as session:
        register_artifact(
            session,
            record,
            activate=decision == "promoted",
            parent_version=champion_version,
            by=GATE_BY,
            reason=f"retrain run {run_id}: {reason}",
        )
    data_sha256 = record.data_sha256
    _finish(
        sessions,
        run_id,
        status="done",
        decision=decision,
        reason=reason,
        metrics=metrics,
        challenger_version=result.version,
        data_sha256=data_sha256,
    )
    return RetrainOutcome(
        run_id=run_id,
        status="done",
        decision=decision,
        reason=reason,
        challenger_version=result.version,
        champion_version=champion_version,
        data_sha256=data_sha256,
        n_base=sets.n_base,
        n_feedback=sets.n_feedback,
        n_holdout=len(scored),
        metrics=metrics,
    )


def gate(
    challenger_accuracy: float, champion: dict[str, Any] | None, settings: Settings
) -> tuple[str, str]:
    """``('promoted' | 'rejected', why)``: the challenger may lose at most the tolerance."""
    tolerance = settings.promotion_tolerance
    if champion is None:
        return "promoted", f"no champion; challenger accuracy {challenger_accuracy:.4f}"
    floor = champion["accuracy"] - tolerance
    compared = (
        f"challenger accuracy {challenger_accuracy:.4f} vs champion {champion['version']} "
        f"{champion['accuracy']:.4f} (tolerance {tolerance:g})"
    )
    if challenger_accuracy >= floor:
        return "promoted", compared
    return "rejected", f"{compared}: worse by more than the tolerance"


def _scores(evaluation: Any) -> dict[str, Any]:
    return {"accuracy": evaluation.accuracy, "macro_f1": evaluation.macro_f1, "n": evaluation.n}


def _score_model(path: Path, data: Any) -> dict[str, Any]:
    """Accuracy and macro-F1 of the artifact at ``path`` on ``data``."""
    from newsclf.trainer.evaluate import evaluate_labels
    from newsclf.trainer.predictor import Predictor

    predictor = Predictor.load(path)
    best = predictor.predict_proba(data.texts).argmax(axis=1)
    predicted = [predictor.labels[int(k)] for k in best]
    return _scores(evaluate_labels(data.labels, predicted, predictor.labels))


# -- the training_runs row ----------------------------------------------------------


def _start_run(
    sessions: sessionmaker[Session], settings: Settings, *, trigger: str, request_id: str | None
) -> tuple[int, int | None]:
    """Insert this run as ``running``: ``(run id, None)``; or, when another one is in
    progress (and not stale), record a ``skipped`` run: ``(its id, the busy run's id)``."""
    _expire_stale(sessions, settings.retrain_stale_s)
    try:
        with sessions.begin() as session:
            run = start_training_run(session, trigger=trigger, request_id=request_id)
            return run.id, None
    except IntegrityError:
        pass  # the partial unique index: one run is already 'running'
    with sessions.begin() as session:
        running = running_training_run(session)
        busy = running.id if running else None
        skipped = record_skipped_run(
            session,
            trigger=trigger,
            request_id=request_id,
            finished_at=_now(),
            reason=f"another retraining (run {busy}) is in progress",
        )
        return skipped.id, busy or 0


def _expire_stale(sessions: sessionmaker[Session], stale_s: float) -> None:
    """Mark failed a 'running' run older than ``stale_s`` (its worker died)."""
    with sessions.begin() as session:
        run = running_training_run(session)
        if run is None:
            return
        started = run.started_at
        if started.tzinfo is None:  # SQLite keeps UTC without a zone
            started = started.replace(tzinfo=dt.UTC)
        if (_now() - started).total_seconds() > stale_s:
            run.status, run.decision, run.finished_at = "failed", "failed", _now()
            run.reason = f"presumed dead: still running after {stale_s:.0f} s"
            log.warning("retrain run=%s %s", run.id, run.reason)


def _update(sessions: sessionmaker[Session], run_id: int, **values: Any) -> None:
    with sessions.begin() as session:
        update_training_run(session, run_id, **values)


def _finish(sessions: sessionmaker[Session], run_id: int, **values: Any) -> None:
    _update(sessions, run_id, finished_at=_now(), **values)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
