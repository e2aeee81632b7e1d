"""The user's own SQL, read-only: what ``newsclf query`` runs on either database.

The statement runs in a transaction that cannot write (PostgreSQL: ``SET TRANSACTION
READ ONLY``; SQLite: ``PRAGMA query_only``), and is rolled back whatever it did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError


class StatementError(ValueError):
    """The database refused the statement (syntax, unknown table, an attempt to write)."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[Sequence[Any]]
    truncated: bool
    """True when the statement returned more rows than the limit (the extra ones are dropped)."""


def read_only_query(engine: Engine, sql: str, *, limit: int | None) -> QueryResult:
    """Run ``sql`` (one statement, no parameters) read-only; at most ``limit`` rows."""
    sqlite = engine.dialect.name == "sqlite"
    if engine.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("%", "%%")  # no parameters: every % is the user's own
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA query_only = ON")
        else:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            try:
                result = conn.exec_driver_sql(sql)
                if not result.returns_rows:
                    return QueryResult([], [], False)
                columns = list(result.keys())
                rows = list(result.fetchall() if limit is None else result.fetchmany(limit + 1))
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
                raise StatementError(lines[0]) from None
        finally:
            conn.rollback()
            if sqlite:
                conn.exec_driver_sql("PRAGMA query_only = OFF")
    truncated = limit is not None and len(rows) > limit
    return QueryResult(columns, rows[:limit] if truncated else rows, truncated)
