"""Predictions: what a model version said about an article, one row per (article,
version), written in bulk and idempotently (a redelivered batch changes nothing),
counted per day, source and label as they are written (``label_counts``), and the
condition every "labeled yet?" query is built from::

    insert_predictions(session, [{"article_id": 1, "model_version": "v1", ...}])
    select(Article.id).where(~has_prediction(Article.id, "v1"))  # still to label
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Date, bindparam, cast, exists, func, literal_column, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.bulk import dialect_insert, exact_rows, insert_new_statement
from newsclf.schema.models import LABEL_COUNT_KEY, Article, LabelCount, Prediction


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
    """Store predictions; rows whose (article, model version) is already there are
    skipped. Returns how many were new, and adds exactly those to ``label_counts``.

    PostgreSQL: one statement, whose data-modifying CTE inserts the predictions
    (``insert_new``'s arrays) and returns the new ones, which the second CTE counts
    into ``label_counts``. SQLite (one writer at a time): the insert, then the count
    of the predictions it returned."""
    values = exact_rows(rows, PREDICTION_FIELDS)
    if not values:
        return 0
    insert, params = insert_new_statement(
        session, Prediction, values, conflict=["article_id", "model_version"]
    )
    if session.get_bind().dialect.name == "postgresql":
        new = insert.returning(
            Prediction.article_id, Prediction.model_version, Prediction.label
        ).cte("new_predictions")
        counted = _add_label_counts(session, new).cte("counted")
        return int(
            session.execute(
                select(func.count()).select_from(new).add_cte(counted), params
            ).scalar_one()
        )
    ids = list(session.scalars(insert.returning(Prediction.id), params))
    if ids:
        listed = func.json_each(bindparam("ids", json.dumps(ids))).table_valued("value")
        new_rows = (
            select(Prediction.article_id, Prediction.model_version, Prediction.label)
            .where(Prediction.id.in_(select(listed.c.value)))
            .subquery()
        )
        session.execute(_add_label_counts(session, new_rows))
    return len(ids)


def _add_label_counts(session: Session, new: Any) -> Any:
    """``INSERT INTO label_counts`` the predictions of ``new`` (``article_id``,
    ``model_version``, ``label``) counted by key, adding to the rows already there.
    Rows go in key order, so writers that share keys take their row locks in the same
    order and never deadlock."""
    if session.get_bind().dialect.name == "postgresql":
        day: Any = cast(func.timezone(literal_column("'UTC'"), Article.ingested_at), Date)
    else:
        day = func.date(Article.ingested_at)  # stored as UTC text
    grouped = (day, Article.source, new.c.model_version, new.c.label)
    key_order = (  # LABEL_COUNT_KEY, spelled on the joined rows
        new.c.model_version,
        day,
        func.coalesce(Article.source, literal_column("''")),
        Article.source.is_(None),
        new.c.label,
    )
    counts = (
        select(*grouped, func.count())
        .join_from(new, Article, Article.id == new.c.article_id)
        .group_by(*grouped)
        .order_by(*key_order)
    )
    upsert = dialect_insert(session, LabelCount).from_select(
        ["day", "source", "model_version", "label", "articles"], counts
    )
    return upsert.on_conflict_do_update(
        index_elements=[sql_text(k) for k in LABEL_COUNT_KEY],
        set_={"articles": LabelCount.articles + upsert.excluded.articles},
    )
