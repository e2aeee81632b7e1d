"""Queries behind ``newsclf models compare`` and ``newsclf report``: what the
stored predictions say about the models in service, read as plain rows::

    with sessions() as session:
        pairs = paired_predictions(session, "v1", "v2", since=None)
        days = label_counts_per_day(session, "v1", since=None, source=None)

Days are the article's ingestion date (``YYYY-MM-DD``, the database's ``date()``),
so a report groups what arrived on a day, whenever it was labeled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from newsclf.schema.models import Article, DriftCheck, Feedback, Prediction


def _since(session: Session, since: dt.datetime | None) -> dt.datetime | None:
    """``since`` as the database compares it (SQLite stores naive UTC text)."""
    if since is not None and session.get_bind().dialect.name == "sqlite":
        return since.astimezone(dt.UTC).replace(tzinfo=None)
    return since


def _day(session: Session, column: Any) -> Any:
    """SQL for the date of a timestamp as ``YYYY-MM-DD`` text on both databases."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column)


def paired_predictions(
    session: Session, a: str, b: str, *, since: dt.datetime | None = None
) -> list[Any]:
    """Articles both versions scored (ingested at or after ``since``): ``article_id,
    label_a, confidence_a, label_b, confidence_b, gold`` (gold: the feedback label or
    None), by article id."""
    pa, pb = aliased(Prediction), aliased(Prediction)
    query = (
        select(
            pa.article_id,
            pa.label.label("label_a"),
            pa.confidence.label("confidence_a"),
            pb.label.label("label_b"),
            pb.confidence.label("confidence_b"),
            Feedback.label.label("gold"),
        )
        .join(pb, (pb.article_id == pa.article_id) & (pb.model_version == b))
        .outerjoin(Feedback, Feedback.article_id == pa.article_id)
        .where(pa.model_version == a)
        .order_by(pa.article_id)
    )
    if since is not None:
        query = query.join(Article, Article.id == pa.article_id).where(
            Article.ingested_at >= _since(session, since)
        )
    return list(session.execute(query).all())


def _filtered(session: Session, query: Any, since: dt.datetime | None, source: str | None) -> Any:
    if since is not None:
        query = query.where(Article.ingested_at >= _since(session, since))
    if source is not None:
        query = query.where(Article.source == source)
    return query


def label_counts_per_day(
    session: Session, version: str, *, since: dt.datetime | None, source: str | None
) -> list[tuple[str, str, str, int]]:
    """``(day, source, label, articles)`` of ``version``'s predictions."""
    day = _day(session, Article.ingested_at)
    query = (
        select(day, Article.source, Prediction.label, func.count())
        .join(Article, Article.id == Prediction.article_id)
        .where(Prediction.model_version == version)
        .group_by(day, Article.source, Prediction.label)
        .order_by(day)
    )
    query = _filtered(session, query, since, source)
    return [(str(d), s or "", str(lab), int(n)) for d, s, lab, n in session.execute(query)]


def confidences_per_day(
    session: Session, version: str, *, since: dt.datetime | None, source: str | None
) -> list[tuple[str, float]]:
    """``(day, confidence)`` of each of ``version``'s predictions, by day."""
    day = _day(session, Article.ingested_at)
    query = (
        select(day, Prediction.confidence)
        .join(Article, Article.id == Prediction.article_id)
        .where(Prediction.model_version == version)
        .order_by(day)
    )
    query = _filtered(session, query, since, source)
    return [(str(d), float(c)) for d, c in session.execute(query)]


def predictions_per_day_and_version(
    session: Session, *, since: dt.datetime | None, source: str | None
) -> list[tuple[str, str, int]]:
    """``(day, model_version, predictions)``, the day a prediction was written: the
    throughput per day and which versions were in service (active or shadow)."""
    day = _day(session, Prediction.created_at)
    query = (
        select(day, Prediction.model_version, func.count())
        .join(Article, Article.id == Prediction.article_id)
        .group_by(day, Prediction.model_version)
        .order_by(day)
    )
    if since is not None:
        query = query.where(Prediction.created_at >= _since(session, since))
    if source is not None:
        query = query.where(Article.source == source)
    return [(str(d), str(v), int(n)) for d, v, n in session.execute(query)]


def texts_per_day(
    session: Session, *, since: dt.datetime | None, source: str | None, per_day: int
) -> list[tuple[str, str]]:
    """``(day, text)``: up to ``per_day`` articles of each day (the newest ids)."""
    day = _day(session, Article.ingested_at)
    ranked = (
        select(
            day.label("day"),
            Article.text,
            func.row_number().over(partition_by=day, order_by=Article.id.desc()).label("n"),
        )
    )
    ranked = _filtered(session, ranked, since, source).subquery()
    query = select(ranked.c.day, ranked.c.text).where(ranked.c.n <= per_day).order_by(ranked.c.day)
    return [(str(d), str(t)) for d, t in session.execute(query)]


def record_drift_check(
    session: Session,
    *,
    model_version: str,
    day: str | None,
    score: float | None,
    flagged: bool,
    detail: dict[str, Any],
) -> None:
    """Keep one report's verdict on its latest day (``newsclf status`` shows the newest)."""
    session.add(
        DriftCheck(model_version=model_version, day=day, score=score, flagged=flagged, detail=detail)
    )
    session.flush()


def latest_drift_check(session: Session) -> DriftCheck | None:
    """The newest recorded drift check, if any."""
    return session.scalars(select(DriftCheck).order_by(DriftCheck.id.desc()).limit(1)).first()


def feedback_agreement(session: Session, version: str) -> tuple[int, int]:
    """``(articles with feedback that version scored, of which it labeled right)``."""
    right = func.sum(case((Prediction.label == Feedback.label, 1), else_=0))
    query = (
        select(func.count(), right)
        .select_from(Prediction)
        .join(Feedback, Feedback.article_id == Prediction.article_id)
        .where(Prediction.model_version == version)
    )
    n, ok = session.execute(query).one()
    return int(n or 0), int(ok or 0)
