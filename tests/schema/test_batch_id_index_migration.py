"""Migration 0009 drops ``ix_predictions_batch_id`` (no query filters on the column)
and leaves the predictions alone; a downgrade builds the index again."""

from __future__ import annotations

from services import seed_prediction
from sqlalchemy import Engine, inspect, text

from newsclf.schema.db import downgrade, make_engine, upgrade


def batch_id_indexed(engine: Engine) -> bool:
    names = {ix["name"] for ix in inspect(engine).get_indexes("predictions")}
    return "ix_predictions_batch_id" in names


def test_0009_drops_the_batch_id_index_and_a_downgrade_builds_it(db_url: str) -> None:
    upgrade(db_url, "0008")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            seed_prediction(conn, batch_id="b-1")
        assert batch_id_indexed(engine)
        engine.dispose()
        upgrade(db_url, "0009")
        assert not batch_id_indexed(engine)
        engine.dispose()
        downgrade(db_url, "0008")
        assert batch_id_indexed(engine)
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT article_id, batch_id FROM predictions"))
            assert [tuple(r) for r in rows] == [(1, "b-1")]
    finally:
        engine.dispose()
