"""A label is data: however it is written, the article_labels view gets exactly one
``p_`` column for it, reading its probability, and nothing else. Held on SQLite and
on a PostgreSQL database with ``standard_conforming_strings=off`` (backslashes
escape quotes there, so quoting that only doubles quotes lets a label end its
literal and add a column that reads ``pg_authid``)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import inspect, text

from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import make_engine, session_factory, upgrade
from newsclf.schema.predictions import insert_predictions
from newsclf.schema.registry import register_model_version
from newsclf.schema.views import probability_columns

INJECTION = [
    "\\",  # ends the first literal where backslashes escape ...
    ") AS p_x, (SELECT rolname::text FROM pg_authid LIMIT 1) AS p_leak --",  # ... this is SQL
]
ODD = ["it's \\' \\\\ %s $$ \" ; --", "E'\\x41'", "\\'", "sport"]


@pytest.fixture(params=["pg_url", "sqlite_url"], ids=["postgresql-escapes-on", "sqlite"])
def legacy_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = str(request.getfixturevalue(request.param))
    if url.startswith("postgresql"):
        server, _, database = url.rpartition("/")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET standard_conforming_strings = off").format(
                    sql.Identifier(database)
                )
            )
    yield url


@pytest.mark.parametrize("labels", [INJECTION, ODD], ids=["injection", "odd"])
def test_a_hostile_label_gets_one_column_and_injects_nothing(
    legacy_url: str, labels: list[str]
) -> None:
    upgrade(legacy_url)
    engine = make_engine(legacy_url)
    try:
        with engine.connect() as conn:
            if legacy_url.startswith("postgresql"):
                assert conn.exec_driver_sql("SHOW standard_conforming_strings").scalar() == "off"
        probabilities = {label: (i + 1) / 10 for i, label in enumerate(labels)}
        with session_factory(engine).begin() as session:
            [(aid, _)] = upsert_articles(session, [{"text": "one"}])
            register_model_version(
                session, version="v1", sha256="0" * 64, path="/m", labels=labels,
                metrics=None, config=None, accuracy=None, data_sha256=None, activate=True,
            )  # fmt: skip
            insert_predictions(
                session,
                [{"article_id": aid, "model_version": "v1", "label": labels[-1],
                  "confidence": 0.4, "probabilities": probabilities}],
            )  # fmt: skip
        with engine.connect() as conn:
            columns = [c["name"] for c in inspect(conn).get_columns("article_labels")]
            expected = probability_columns(labels)
            assert columns[-len(labels) :] == expected and "p_leak" not in columns
            row = conn.execute(text("SELECT * FROM article_labels")).mappings().one()
            for label, column in zip(labels, expected, strict=True):
                assert row[column] == pytest.approx(probabilities[label]), label
    finally:
        engine.dispose()
