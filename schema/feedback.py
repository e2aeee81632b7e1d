"""Gold labels from editors (``feedback``): stored one per article, the last one
wins; read back as training examples. Plain functions taking ``session``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from newsclf.schema.bulk import dialect_insert
from newsclf.schema.models import (
    Article,
    Feedback,
)


def upsert_feedback(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store gold labels (``article_id``, ``label``, ``source``, optional ``strategy``:
    the review strategy that surfaced the article); one per article, the last one
    wins (in ``rows`` and against what is stored). Returns the rows written."""
    last: dict[int, dict[str, Any]] = {}
    for row in rows:
        article_id = int(row["article_id"])
        last[article_id] = {
            "article_id": article_id,
            "label": row["label"],
            "source": row["source"],
            "strategy": row.get("strategy"),
        }
    if not last:
        return 0
    stmt = dialect_insert(session, Feedback)
    stmt = stmt.on_conflict_do_update(
        index_elements=["article_id"],
        set_={
            "label": stmt.excluded.label,
            "source": stmt.excluded.source,
            "strategy": stmt.excluded.strategy,
            "created_at": func.now(),
        },
    )
    session.execute(stmt, list(last.values()))
    return len(last)


def feedback_examples(session: Session) -> list[tuple[int, str, str]]:
    """Every gold label as ``(article_id, article text, label)``, by article id."""
    query = (
        select(Feedback.article_id, Article.text, Feedback.label)
        .join(Article, Article.id == Feedback.article_id)
        .order_by(Feedback.article_id)
    )
    return [(int(a), str(t), str(label)) for a, t, label in session.execute(query)]
