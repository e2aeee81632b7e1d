"""Migration 0008 (``label_counts``) on a database that holds predictions: the table
starts as their count by UTC day, source (NULL apart from ''), model version and
label, whatever the database's time zone; writes after it add to those rows; a
downgrade drops the table and leaves the predictions alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, insert, inspect, text
from sqlalchemy.orm import Session

from newsclf.schema.db import downgrade, make_engine, upgrade
from newsclf.schema.models import Article, ModelVersion, Prediction
from newsclf.schema.predictions import insert_predictions

UTC = dt.UTC

ARTICLES = [  # (source, ingested_at)
    ("bbc", dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
    ("bbc", dt.datetime(2024, 3, 1, 23, 30, tzinfo=UTC)),
    (None, dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
    ("", dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
    (None, dt.datetime(2024, 3, 2, 0, 30, tzinfo=UTC)),
    ("bbc", dt.datetime(2024, 3, 2, 9, 0, tzinfo=UTC)),  # never labeled
]

PREDICTIONS = [  # (article number, version, label)
    (1, "v1", "sport"),
    (2, "v1", "sport"),
    (3, "v1", "tech"),
    (4, "v1", "tech"),
    (5, "v1", "tech"),
    (1, "v2", "business"),
    (3, "v2", "business"),
]


def counts(conn: Connection) -> dict[tuple, int]:
    rows = conn.execute(
        text("SELECT day, source, model_version, label, articles FROM label_counts")
    )
    return {(str(day), s, v, lab): n for day, s, v, lab, n in rows}


def test_0008_counts_the_stored_predictions_and_drops_the_table_on_downgrade(
    db_url: str,
) -> None:
    upgrade(db_url, "0007")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # the days are UTC's all the same
                database = conn.exec_driver_sql("SELECT current_database()").scalar_one()
                conn.exec_driver_sql(f"ALTER DATABASE {database} SET timezone = 'Asia/Tokyo'")
            conn.execute(
                insert(ModelVersion),
                [
                    {"version": v, "sha256": "0" * 64, "path": f"/m/{v}", "labels": []}
                    for v in ("v1", "v2")
                ],
            )
            conn.execute(
                insert(Article),
                [
                    {
                        "id": n,
                        "text": f"a{n}",
                        "content_sha256": f"h{n}",
                        "source": s,
                        "ingested_at": at,
                    }
                    for n, (s, at) in enumerate(ARTICLES, start=1)
                ],
            )
            conn.execute(
                insert(Prediction),
                [
                    {"article_id": n, "model_version": v, "label": lab, "confidence": 0.9,
                     "probabilities": {lab: 0.9}, "batch_id": "b"}
                    for n, v, lab in PREDICTIONS
                ],
            )  # fmt: skip
        engine.dispose()
        upgrade(db_url, "0008")
        expected = {
            ("2024-03-01", "bbc", "v1", "sport"): 2,
            ("2024-03-01", None, "v1", "tech"): 1,
            ("2024-03-01", "", "v1", "tech"): 1,
            ("2024-03-02", None, "v1", "tech"): 1,
            ("2024-03-01", "bbc", "v2", "business"): 1,
            ("2024-03-01", None, "v2", "business"): 1,
        }
        with engine.begin() as conn:
            assert counts(conn) == expected
        with Session(engine) as session, session.begin():
            rows = [
                {"article_id": n, "model_version": "v1", "label": "sport", "confidence": 0.9,
                 "probabilities": {"sport": 0.9}, "batch_id": "c"}
                for n in (1, 6)
            ]  # fmt: skip
            assert insert_predictions(session, rows) == 1
        expected[("2024-03-02", "bbc", "v1", "sport")] = 1
        with engine.begin() as conn:
            assert counts(conn) == expected
        engine.dispose()
        downgrade(db_url, "0007")
        assert "label_counts" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM predictions")).scalar() == 8
    finally:
        engine.dispose()
