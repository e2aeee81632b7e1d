"""Migration 0004 (job statuses ``enqueuing`` and ``interrupted``) on a database
that holds jobs: nothing is lost (on SQLite a rebuilt ``jobs`` table would take
every ``job_articles`` row with it, through ON DELETE CASCADE), the new statuses
are accepted, others still refused, and a downgrade maps them back."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from newsclf.schema.db import downgrade, make_engine, upgrade


def test_0004_keeps_every_job_article_and_accepts_the_new_statuses(db_url: str) -> None:
    upgrade(db_url, "0003")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO articles (text, content_sha256) VALUES ('a', 'x')"))
            conn.execute(text("INSERT INTO jobs (source, status) VALUES ('feed', 'running')"))
            conn.execute(text("INSERT INTO job_articles (job_id, article_id, line) VALUES (1, 1, 2)"))
        engine.dispose()
        upgrade(db_url)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM job_articles")).scalar() == 1
            for status in ("enqueuing", "interrupted"):
                conn.execute(text("UPDATE jobs SET status = :s"), {"s": status})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE jobs SET status = 'paused'"))
        engine.dispose()
        downgrade(db_url, "0003")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT status FROM jobs")).scalar() == "failed"
            assert conn.execute(text("SELECT count(*) FROM job_articles")).scalar() == 1
    finally:
        engine.dispose()
