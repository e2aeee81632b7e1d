"""Predictions: what a model version said about an article, one row per (article,
version), written in bulk and idempotently (a redelivered batch changes nothing),
and the condition every "labeled yet?" query is built from::

    insert_predictions(session, [{"article_id": 1, "model_version": "v1", ...}])
    select(Article.id).where(~has_prediction(Article.id, "v1"))  # still to label
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    exists,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.bulk import exact_rows, insert_new
from newsclf.schema.models import (
    Prediction,
)


def has_prediction(article_id: Any, version: str | None = None) -> ColumnElement[bool]:
    """True where the article ``article_id`` (a column of the enclosing query) has a
    prediction by model ``version``, or by any version when ``version`` is None. The
    (article_id, model_version) unique index answers it without reading the rows."""
    condition = exists().where(Prediction.article_id == article_id)
    if version is not None:
        condition = condition.where(Prediction.model_version == version)
    return condition


PREDICTION_FIELDS = (
    "article_id", "model_version", "label", "confidence", "probabilities", "batch_id",
)  # fmt: skip
"""Keys ``insert_predictions`` accepts."""


def insert_predictions(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store predictions in one INSERT statement; rows whose (article, model version)
    is already there are skipped. Returns how many were new."""
    values = exact_rows(rows, PREDICTION_FIELDS)
    if not values:
        return 0
    inserted = insert_new(
        session,
        Prediction,
        values,
        conflict=["article_id", "model_version"],
        returning=[Prediction.id],
    )
    return len(inserted.all())
