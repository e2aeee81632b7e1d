"""Articles as a whole: which of them a filter matches. Plain functions taking
``session``::

    with sessions() as session:
        for article_id, needs_label in matching_articles(session, version=v, since=None, source="bbc"):
            ...
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsclf.schema.models import Article
from newsclf.schema.predictions import has_prediction


def matching_articles(
    session: Session, *, version: str, since: dt.datetime | None, source: str | None
) -> list[tuple[int, bool]]:
    """``(article_id, needs_label)`` of every live (not failed) article published (or,
    lacking a date, stored) since ``since`` and from ``source``, by id; ``needs_label``:
    model ``version`` has no prediction for it yet."""
    query = select(Article.id, ~has_prediction(Article.id, version)).where(
        Article.failed_reason.is_(None)
    )
    if since is not None:
        if session.get_bind().dialect.name == "sqlite":  # stored as naive UTC text
            since = since.astimezone(dt.UTC).replace(tzinfo=None)
        query = query.where(func.coalesce(Article.published_at, Article.ingested_at) >= since)
    if source is not None:
        query = query.where(Article.source == source)
    return [(int(i), bool(todo)) for i, todo in session.execute(query.order_by(Article.id))]
