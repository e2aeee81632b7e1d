"""The ``article_labels`` view: each article with the active model's label and
one ``p_<label>`` column per class, so plain SQL needs no JSON functions::

    SELECT title, label, p_business FROM article_labels WHERE p_business > 0.9;

Class names come from the model, so the view is rebuilt whenever a model with
other labels is activated::

    refresh_article_labels_view(session.connection(), ["business", "sport"])

Labels are data and may hold anything: column names are sanitized to
``p_[a-z0-9_]`` (deduplicated, at most 63 characters) and every identifier and
literal is quoted by the database's own rules (psycopg's ``sql.Literal`` on
PostgreSQL, which stays right whatever ``standard_conforming_strings`` says;
SQLAlchemy's dialect quoting on SQLite). A view definition takes no bound
parameters, so quoting is the only way, and nothing is ever concatenated raw.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, String

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


Quote = Callable[[str], str]


def _quoters(conn: Connection) -> tuple[Quote, Quote]:
    """(literal, identifier) quoting functions of ``conn``'s database."""
    dialect = conn.dialect
    if dialect.name == "postgresql":
        from psycopg import sql

        driver = conn.connection.driver_connection

        def literal(value: str) -> str:
            # libpq's escaping: E'...' with doubled backslashes when the value has any,
            # so the text means the same with standard_conforming_strings on or off.
            return sql.Literal(value).as_string(driver)

        def identifier(name: str) -> str:
            return sql.Identifier(name).as_string(driver)

        return literal, identifier
    if dialect.name == "sqlite":
        processor = String().literal_processor(dialect)
        assert processor is not None
        return processor, dialect.identifier_preparer.quote_identifier
    raise NotImplementedError(f"article_labels view: unsupported database {dialect.name!r}")


def _extract(dialect: str, label: str, literal: Quote) -> str:
    """SQL for ``probabilities[label]`` as a float on ``dialect``."""
    if "\x00" in label:
        raise ValueError("a label cannot contain NUL")
    if dialect == "postgresql":
        return f"(p.probabilities ->> {literal(label)})::float"
    if _SAFE_SQLITE_KEY.fullmatch(label):
        return f"json_extract(p.probabilities, {literal(f'$.{chr(34)}{label}{chr(34)}')})"
    # JSON paths cannot quote every key, and stored keys may be \u-escaped:
    # compare the decoded key instead.
    return (
        "(SELECT CAST(j.value AS REAL) FROM json_each(p.probabilities) AS j"
        f" WHERE j.key = {literal(label)})"
    )


def article_labels_sql(conn: Connection, labels: Sequence[str]) -> str:
    """The CREATE VIEW statement for ``labels``, quoted for ``conn``'s database."""
    dialect = conn.dialect.name
    literal, identifier = _quoters(conn)
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
        columns.append(f"{_extract(dialect, label, literal)} AS {identifier(name)}")
    return (
        f"CREATE VIEW {identifier(VIEW_NAME)} AS SELECT\n  "
        + ",\n  ".join(columns)
        + "\nFROM articles AS a\nLEFT JOIN predictions AS p\n"
        "  ON p.article_id = a.id\n"
        "  AND p.model_version = (SELECT m.version FROM model_versions AS m"
        f" WHERE m.is_active = {true} LIMIT 1)"
    )


def refresh_article_labels_view(conn: Connection, labels: Sequence[str]) -> None:
    """Drop and recreate ``article_labels`` with a ``p_`` column for each label."""
    ddl = article_labels_sql(conn, list(labels))
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {VIEW_NAME}")
    conn.exec_driver_sql(_escape_for_driver(conn, ddl))


def _escape_for_driver(conn: Connection, sql: str) -> str:
    """Double ``%`` for drivers whose paramstyle would read it as a placeholder."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%")
    return sql
