"""Predictions: what a model version said about an article, one row per (article,
version). The conditions every query about "labeled yet?" is built from::

    select(Article.id).where(~has_prediction(Article.id, version))   # still to label
    select(JobArticle.article_id).where(has_prediction(JobArticle.article_id))
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.models import Prediction


def has_prediction(article_id: Any, version: str | None = None) -> ColumnElement[bool]:
    """True where the article ``article_id`` (a column of the enclosing query) has a
    prediction by model ``version``, or by any version when ``version`` is None. The
    (article_id, model_version) unique index answers it without reading the rows."""
    condition = exists().where(Prediction.article_id == article_id)
    if version is not None:
        condition = condition.where(Prediction.model_version == version)
    return condition
