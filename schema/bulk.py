"""Bulk writes shared by the table modules: one INSERT that skips the rows
clashing on a unique key (PostgreSQL: one statement of one array per column;
SQLite: multi-row VALUES), ``column IN values`` as one parameter, and rows
checked against the columns a table accepts. Every value is a bound parameter."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Result,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: type[Any]) -> Any:
    """``INSERT`` for ``model`` in the session's dialect (PostgreSQL or SQLite), which has
    ``on_conflict_do_update`` and ``excluded`` for upserts."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(model)


def insert_new(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[Any] = (),
) -> Result[Any]:
    """INSERT ``rows`` (same keys each), skipping those that clash on ``conflict``.

    PostgreSQL: one ``INSERT ... SELECT FROM unnest(one array per column)``
    (a JSON column: one JSON array document), a short statement whatever the row
    count, which psycopg parses once and prepares. SQLite: a multi-row INSERT per
    ``insertmanyvalues_page_size`` rows. Every value is a bound parameter either way."""
    stmt, params = insert_new_statement(session, model, rows, conflict=conflict)
    return session.execute(stmt.returning(*returning) if returning else stmt, params)


def insert_new_statement(
    session: Session, model: type[Any], rows: list[dict[str, Any]], *, conflict: Sequence[str]
) -> tuple[Any, Any]:
    """``(statement, parameters)`` of ``insert_new``, not executed: a caller may add
    RETURNING and, on PostgreSQL, use it as a data-modifying CTE of a larger statement.
    The statement is ``new_rows_insert``'s, the same object for rows of the same keys."""
    dialect = session.get_bind().dialect
    columns = tuple(rows[0])
    stmt = new_rows_insert(model, dialect, columns, tuple(conflict))
    if dialect.name == "sqlite":
        return stmt, rows
    docs = _json_columns(model, dialect, columns)
    params: dict[str, Any] = {f"a_{c}": [row[c] for row in rows] for c in columns if c not in docs}
    params.update({f"d_{c}": json.dumps([row[c] for row in rows]) for c in docs})
    return stmt, params


@functools.lru_cache(maxsize=64)
def new_rows_insert(
    model: type[Any], dialect: Dialect, columns: tuple[str, ...], conflict: tuple[str, ...]
) -> Any:
    """The INSERT of ``insert_new`` for rows of ``columns``, built once per shape (and
    engine's dialect): a batch's cost is then its parameters, not building the
    statement and its cache key again (SQLAlchemy memoizes the key on the object)."""
    table = model.__table__
    if dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    if dialect.name != "postgresql":  # pragma: no cover
        raise NotImplementedError(
            f"unsupported database {dialect.name!r}: use PostgreSQL or SQLite"
        )
    from sqlalchemy.dialects import postgresql

    # A JSON column travels as one JSON array document for all rows (one json.dumps
    # in C, one parse in PostgreSQL), its elements joined to the other columns'
    # unnested arrays by position.
    docs = _json_columns(model, dialect, columns)
    plain = [c for c in columns if c not in docs]
    arrays = [bindparam(f"a_{c}", type_=postgresql.ARRAY(table.c[c].type)) for c in plain]
    unnested = func.unnest(*arrays).table_valued(*plain, with_ordinality="n").render_derived()
    values: dict[str, Any] = {c: unnested.c[c] for c in plain}
    joined: Any = unnested
    for c in docs:
        document = sql_cast(bindparam(f"d_{c}", type_=Text), postgresql.JSONB)
        elements = (
            func.jsonb_array_elements(document)
            .table_valued("value", with_ordinality="n")
            .render_derived()
        )
        joined = joined.join(elements, elements.c.n == unnested.c.n)
        values[c] = func.nullif(elements.c.value, literal_column("'null'::jsonb"))
    source = select(*(values[c] for c in columns)).select_from(joined)
    stmt = postgresql.insert(table).from_select(list(columns), source)
    return stmt.on_conflict_do_nothing(index_elements=list(conflict))


@functools.lru_cache(maxsize=64)
def _json_columns(model: type[Any], dialect: Dialect, columns: tuple[str, ...]) -> frozenset[str]:
    """Which of ``columns`` are JSON on ``dialect``."""
    table = model.__table__
    return frozenset(c for c in columns if isinstance(table.c[c].type.dialect_impl(dialect), JSON))


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter however many
    values, so the statement's text is the same for every call (parsed and prepared once)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def exact_rows(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with exactly ``fields`` as keys (missing: None), so one VALUES list fits all."""
    out = []
    for row in rows:
        unknown = set(row) - set(fields)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; expected some of {list(fields)}")
        out.append({f: row.get(f) for f in fields})
    return out
