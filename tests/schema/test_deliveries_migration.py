"""Migration 0007 (deliveries counted in their own table) on a database that holds
articles: every non-zero ``articles.attempts`` moves to ``deliveries``, the
column goes, and nothing else is lost (on SQLite a rebuilt ``articles`` would
take every row that refers to it, through ON DELETE CASCADE); a downgrade puts
the counts back."""

from __future__ import annotations

from sqlalchemy import inspect, text

from newsclf.schema.db import downgrade, make_engine, upgrade


def test_0007_moves_the_attempts_to_deliveries_and_back(db_url: str) -> None:
    upgrade(db_url, "0006")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for n, attempts in enumerate((0, 2, 3)):
                conn.execute(
                    text(
                        "INSERT INTO articles (text, content_sha256, attempts) VALUES (:t, :h, :a)"
                    ),
                    {"t": f"a{n}", "h": f"h{n}", "a": attempts},
                )
            conn.execute(text("INSERT INTO jobs (source, status) VALUES ('feed', 'running')"))
            conn.execute(
                text("INSERT INTO job_articles (job_id, article_id, line) VALUES (1, 1, 2)")
            )
        engine.dispose()
        upgrade(db_url, "0007")
        columns = {c["name"] for c in inspect(engine).get_columns("articles")}
        assert "attempts" not in columns
        with engine.begin() as conn:
            moved = conn.execute(text("SELECT article_id, attempts FROM deliveries ORDER BY 1"))
            assert [tuple(r) for r in moved] == [(2, 2), (3, 3)]
            assert conn.execute(text("SELECT count(*) FROM job_articles")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM articles")).scalar() == 3
        engine.dispose()
        downgrade(db_url, "0006")
        assert "deliveries" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            back = conn.execute(text("SELECT id, attempts FROM articles ORDER BY id"))
            assert [tuple(r) for r in back] == [(1, 0), (2, 2), (3, 3)]
            assert conn.execute(text("SELECT count(*) FROM job_articles")).scalar() == 1
    finally:
        engine.dispose()
