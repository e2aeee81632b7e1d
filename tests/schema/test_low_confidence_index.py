"""Only predictions under ``REVIEW_INDEX_BELOW`` are indexed by (version, confidence)
(migration 0010): review under a threshold up to that bound reads the index in order
on PostgreSQL, and review over it still finds every row, in the same order."""

from __future__ import annotations

import random

from services import seed_prediction
from sqlalchemy import Engine, inspect, text

from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import downgrade, make_engine, upgrade
from newsclf.schema.models import REVIEW_INDEX_BELOW
from newsclf.schema.predictions import insert_predictions
from newsclf.schema.review import review_candidates, review_query


def index_names(engine: Engine) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes("predictions")}


def test_0010_keeps_only_the_low_confidence_rows_indexed_and_a_downgrade_undoes_it(
    db_url: str,
) -> None:
    upgrade(db_url, "0009")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            seed_prediction(conn, confidence=0.5)
        assert "ix_predictions_version_confidence" in index_names(engine)
        engine.dispose()
        upgrade(db_url, "0010")
        names = index_names(engine)
        assert "ix_predictions_low_confidence" in names
        assert "ix_predictions_version_confidence" not in names
        engine.dispose()
        downgrade(db_url, "0009")
        names = index_names(engine)
        assert "ix_predictions_version_confidence" in names
        assert "ix_predictions_low_confidence" not in names
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT article_id, confidence FROM predictions"))
            assert [tuple(r) for r in rows] == [(1, 0.5)]
    finally:
        engine.dispose()


def fill(sessions, add_model, prediction, n: int = 400) -> dict[int, float]:  # type: ignore[no-untyped-def]
    """``n`` articles labeled by v1 with confidences spread over [0.34, 1]."""
    rng = random.Random(7)
    with sessions.begin() as session:
        add_model(session, "v1")
        ids = [a for a, _ in upsert_articles(session, [{"text": f"t {i}"} for i in range(n)])]
        rows = []
        for article_id in ids:
            top = round(rng.uniform(0.34, 1.0), 4)
            rest = (1 - top) / 2
            rows.append(
                prediction(article_id, "v1", {"business": top, "sport": rest, "tech": rest})
            )
        insert_predictions(session, rows)
    return {r["article_id"]: r["confidence"] for r in rows}


def test_review_finds_every_row_under_any_threshold(sessions, add_model, prediction) -> None:  # type: ignore[no-untyped-def]
    confidence = fill(sessions, add_model, prediction)
    for threshold in (0.5, REVIEW_INDEX_BELOW, 0.95, 1.0):
        with sessions() as session:
            got = review_candidates(session, "v1", threshold=threshold, pool=10_000)
        expected = sorted((c, a) for a, c in confidence.items() if c < threshold)
        assert [(r.confidence, r.article_id) for r in got] == expected, threshold


def test_review_under_the_bound_reads_the_index_on_postgresql(
    pg_url: str,
    add_model,
    prediction,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy.dialects import postgresql

    from newsclf.schema.db import session_factory

    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        sessions = session_factory(engine)
        fill(sessions, add_model, prediction, n=20_000)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE predictions")
            conn.exec_driver_sql("ANALYZE articles")
            for threshold, indexed in ((0.6, True), (0.99, False)):
                query = review_query("v1", threshold=threshold, pool=20)
                sql = str(
                    query.compile(
                        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                    )
                )
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
                assert ("ix_predictions_low_confidence" in plan) is indexed, plan
    finally:
        engine.dispose()
