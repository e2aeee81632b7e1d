"""The ``article_labels`` view: each article with the active model's label and
one ``p_<label>`` column per class, so plain SQL needs no JSON functions::

    SELECT title, label, p_business FROM article_labels WHERE p_business > 0.9;

Class names come from the model, so the view is rebuilt whenever a model with
other labels is activated::

    refresh_article_labels_view(session.connection(), ["business", "sport"])

Labels are data and may hold anything: column names are sanitized to
``p_[a-z0-9_]`` (deduplicated, at most 63 characters) and JSON keys are SQL
string literals with quotes doubled, run without driver parameter parsing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import Connection

VIEW_NAME = "article_labels"
"""The view users query."""

MAX_IDENTIFIER = 63
"""PostgreSQL's identifier length limit (longer names are silently cut)."""

_SAFE_SQLITE_KEY = re.compile(r"[A-Za-z0-9_\- ]+")


def probability_columns(labels: Sequence[str]) -> list[str]:
    """The view's column name for each label, in order: ``p_`` + [a-z0-9_], unique."""
    seen: set[str] = set()
    names = []
    for label in labels:
        ascii_only = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
        base = "p_" + re.sub(r"[^a-z0-9_]", "_", ascii_only.lower())
        base = base[:MAX_IDENTIFIER]
        name, n = base, 2
        while name in seen:
            suffix = f"_{n}"
            name, n = base[: MAX_IDENTIFIER - len(suffix)] + suffix, n + 1
        seen.add(name)
        names.append(name)
    return names


def _literal(value: str) -> str:
    """A SQL string literal (standard quoting: quotes doubled, no backslash escapes)."""
    if "\x00" in value:
        raise ValueError("a label cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


def _extract(dialect: str, label: str) -> str:
    """SQL for ``probabilities[label]`` as a float on ``dialect``."""
    if dialect == "postgresql":
        return f"(p.probabilities ->> {_literal(label)})::float"
    if dialect == "sqlite":
        if _SAFE_SQLITE_KEY.fullmatch(label):
            return f"json_extract(p.probabilities, {_literal(f'$.{chr(34)}{label}{chr(34)}')})"
        # JSON paths cannot quote every key, and stored keys may be \u-escaped:
        # compare the decoded key instead.
        return (
            "(SELECT CAST(j.value AS REAL) FROM json_each(p.probabilities) AS j"
            f" WHERE j.key = {_literal(label)})"
        )
    raise NotImplementedError(f"article_labels view: unsupported database {dialect!r}")


def article_labels_sql(dialect: str, labels: Sequence[str]) -> str:
    """The CREATE VIEW statement for ``labels`` on ``dialect``."""
    true = "true" if dialect == "postgresql" else "1"
    columns = [
        "a.id",
        "a.external_id",
        "a.url",
        "a.title",
        "a.source",
        "a.published_at",
        "a.ingested_at",
        "p.model_version",
        "p.label",
        "p.confidence",
    ]
    for label, name in zip(labels, probability_columns(labels), strict=True):
        columns.append(f"{_extract(dialect, label)} AS {name}")
    return (
        f"CREATE VIEW {VIEW_NAME} AS SELECT\n  "
        + ",\n  ".join(columns)
        + "\nFROM articles AS a\nLEFT JOIN predictions AS p\n"
        "  ON p.article_id = a.id\n"
        "  AND p.model_version = (SELECT m.version FROM model_versions AS m"
        f" WHERE m.is_active = {true} LIMIT 1)"
    )


def refresh_article_labels_view(conn: Connection, labels: Sequence[str]) -> None:
    """Drop and recreate ``article_labels`` with a ``p_`` column for each label."""
    dialect = conn.dialect.name
    ddl = article_labels_sql(dialect, list(labels))
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {VIEW_NAME}")
    conn.exec_driver_sql(_escape_for_driver(conn, ddl))


def _escape_for_driver(conn: Connection, sql: str) -> str:
    """Double ``%`` for drivers whose paramstyle would read it as a placeholder."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%")
    return sql
