"""Predictions: what a model version said about an article, one row per (article,
version), written in bulk and idempotently (a redelivered batch changes nothing),
counted per day, source and label as they are written (``label_counts``), and the
condition every "labeled yet?" query is built from::

    insert_predictions(session, [{"article_id": 1, "model_version": "v1", ...}])
    select(Article.id).where(~has_prediction(Article.id, "v1"))  # still to label
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Date, String, bindparam, cast, exists, func, literal_column, select
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.bulk import exact_rows, insert_new_statement, new_rows_insert
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


CONFLICT = ("article_id", "model_version")
"""A prediction's key: one per (article, model version)."""


def insert_predictions(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store predictions; rows whose (article, model version) is already there are
    skipped. Returns how many were new, and adds exactly those to ``label_counts``.

    PostgreSQL: one statement, whose data-modifying CTE inserts the predictions
    (``insert_new``'s arrays) and returns the new ones, which the second CTE counts
    into ``label_counts``. SQLite (one writer at a time): the insert, then the count
    of the predictions it returned. Both statements are built once per shape."""
    values = exact_rows(rows, PREDICTION_FIELDS)
    if not values:
        return 0
    insert, params = insert_new_statement(session, Prediction, values, conflict=CONFLICT)
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        counting = _counting_insert(dialect, tuple(values[0]))
        return int(session.execute(counting, params).scalar_one())
    ids = list(session.scalars(insert.returning(Prediction.id), params))
    if ids:
        session.execute(_count_inserted_ids(dialect), {"ids": json.dumps(ids)})
    return len(ids)


@functools.lru_cache(maxsize=16)
def _counting_insert(dialect: Dialect, columns: tuple[str, ...]) -> Any:
    """PostgreSQL: the predictions' insert as a CTE returning the new rows, counted
    into ``label_counts`` by a second CTE; the statement returns how many were new."""
    insert = new_rows_insert(Prediction, dialect, columns, CONFLICT)
    new = insert.returning(Prediction.article_id, Prediction.model_version, Prediction.label).cte(
        "new_predictions"
    )
    counted = _add_label_counts(dialect, new).cte("counted")
    return select(func.count()).select_from(new).add_cte(counted)


@functools.lru_cache(maxsize=16)
def _count_inserted_ids(dialect: Dialect) -> Any:
    """SQLite: count the predictions whose ids are the JSON array ``:ids`` into
    ``label_counts`` (one parameter however many ids)."""
    listed = func.json_each(bindparam("ids", type_=String)).table_valued("value")
    new_rows = (
        select(Prediction.article_id, Prediction.model_version, Prediction.label)
        .where(Prediction.id.in_(select(listed.c.value)))
        .subquery()
    )
    return _add_label_counts(dialect, new_rows)


def _add_label_counts(dialect: Dialect, new: Any) -> Any:
    """``INSERT INTO label_counts`` the predictions of ``new`` (``article_id``,
    ``model_version``, ``label``) counted by key, adding to the rows already there.
    Rows go in key order, so writers that share keys take their row locks in the same
    order and never deadlock."""
    if dialect.name == "postgresql":
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
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    # The table, not the mapped class: executed with parameters, an ORM-enabled
    # INSERT would be taken for a bulk insert of those parameters as rows.
    table = LabelCount.__table__
    upsert = insert(table).from_select(
        ["day", "source", "model_version", "label", "articles"], counts
    )
    return upsert.on_conflict_do_update(
        index_elements=[sql_text(k) for k in LABEL_COUNT_KEY],
        set_={"articles": table.c.articles + upsert.excluded.articles},
    )
