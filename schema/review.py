"""What ``newsclf review`` reads and records: the candidates an editor could label
next, and which strategy showed which article::

    with sessions.begin() as session:
        rows = review_candidates(session, "v1", threshold=0.6, pool=5000)
        record_picks(session, {17: "margin", 18: "margin"})
        picked_strategies(session, [17, 18])     # {17: "margin", 18: "margin"}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from newsclf.schema.bulk import dialect_insert, one_of
from newsclf.schema.models import Article, Feedback, Prediction, ReviewPick

TEXT_CHARS = 1000
"""Characters of each candidate's text read (shown cut shorter; compared for near
duplicates by the diverse strategy)."""


def review_candidates(session: Session, version: str, *, threshold: float, pool: int) -> list[Any]:
    """Up to ``pool`` of ``version``'s predictions under ``threshold`` whose article has
    no feedback yet, least confident first: ``article_id, label, confidence,
    probabilities, title, source, ingested_at, text`` (the text's start)."""
    return list(session.execute(review_query(version, threshold=threshold, pool=pool)).all())


def review_query(version: str, *, threshold: float, pool: int) -> Select[Any]:
    """The query ``review_candidates`` runs. Under a ``threshold`` up to
    ``models.REVIEW_INDEX_BELOW``, PostgreSQL reads it from the low-confidence index
    in order and stops after ``pool`` rows."""
    has_feedback = exists().where(Feedback.article_id == Prediction.article_id)
    return (
        select(
            Prediction.article_id,
            Prediction.label,
            Prediction.confidence,
            Prediction.probabilities,
            Article.title,
            Article.source,
            Article.ingested_at,
            func.substr(Article.text, 1, TEXT_CHARS).label("text"),
        )
        .join(Article, Article.id == Prediction.article_id)
        .where(
            Prediction.model_version == version,
            Prediction.confidence < threshold,
            ~has_feedback,
        )
        .order_by(Prediction.confidence, Prediction.article_id)
        .limit(pool)
    )


def record_picks(session: Session, picks: Mapping[int, str]) -> None:
    """Remember that ``strategy`` showed each article (the last strategy wins)."""
    if not picks:
        return
    stmt = dialect_insert(session, ReviewPick)
    stmt = stmt.on_conflict_do_update(
        index_elements=["article_id"],
        set_={"strategy": stmt.excluded.strategy, "picked_at": func.now()},
    )
    session.execute(stmt, [{"article_id": a, "strategy": s} for a, s in picks.items()])


def picked_strategies(session: Session, article_ids: Sequence[int]) -> dict[int, str]:
    """The strategy that last showed each of ``article_ids`` (those review showed)."""
    found: dict[int, str] = {}
    ids = list(article_ids)
    for start in range(0, len(ids), 1000):
        query = select(ReviewPick.article_id, ReviewPick.strategy).where(
            one_of(session, ReviewPick.article_id, ids[start : start + 1000])
        )
        found.update({int(a): str(s) for a, s in session.execute(query)})
    return found
