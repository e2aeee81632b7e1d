"""Alembic owns the schema: migrations build it on PostgreSQL and SQLite, the
models agree with them, and ``newsclf db`` drives them."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from newsclf.cli import main
from newsclf.schema.db import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    normalize_url,
    upgrade,
)
from newsclf.schema.models import Base

TABLES = {"articles", "jobs", "job_articles", "model_versions", "predictions"}


def test_upgrade_builds_every_table_and_the_view(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision() is not None
    engine = make_engine(db_url)
    try:
        inspector = inspect(engine)
        assert TABLES <= set(inspector.get_table_names())
        assert "article_labels" in inspector.get_view_names()
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()


# SQLite cannot reflect an index on expressions (label_counts' key), so Alembic skips
# it there, saying so; the PostgreSQL run compares it.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_the_models_match_what_the_migrations_build(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_empties_the_database_and_upgrade_rebuilds_it(db_url: str) -> None:
    upgrade(db_url)
    downgrade(db_url, "base")
    engine = make_engine(db_url)
    try:
        assert not TABLES & set(inspect(engine).get_table_names())
        assert "article_labels" not in inspect(engine).get_view_names()
    finally:
        engine.dispose()
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()


def test_migrations_run_from_any_directory_without_an_alembic_ini(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    upgrade(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()
    assert not (tmp_path / "alembic.ini").exists()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_a_plain_postgresql_url_uses_the_installed_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_db_upgrade_then_db_current_report_the_revision(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["db", "current", "--database-url", sqlite_url])
    assert "none" in capsys.readouterr().out
    main(["db", "upgrade", "--database-url", sqlite_url])
    assert f"at revision {head_revision()}" in capsys.readouterr().out
    main(["db", "current", "--database-url", sqlite_url])
    assert "up to date" in capsys.readouterr().out


def test_db_upgrade_reads_the_url_from_the_environment(
    newsclf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{newsclf_env / 'env.db'}"
    monkeypatch.setenv("NEWSCLF_DATABASE_URL", url)
    main(["db", "upgrade"])
    assert current_revision(url) == head_revision()


def test_db_upgrade_on_an_unreachable_server_is_one_line_and_exit_code_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "upgrade", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere"])
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: database unreachable")
    assert err.count("\n") == 1


def test_db_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "upgrade", "--help"])
    assert "Example" in capsys.readouterr().out


def test_article_texts_are_compressed_with_lz4_on_postgresql_14_and_back_with_downgrade(
    pg_url: str,
) -> None:
    from sqlalchemy import text

    query = text(
        "SELECT attcompression FROM pg_attribute"
        " WHERE attrelid = 'articles'::regclass AND attname = 'text'"
    )
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            if int(conn.execute(text("SHOW server_version_num")).scalar_one()) < 140000:
                pytest.skip("column compression methods need PostgreSQL 14")
            assert conn.execute(query).scalar_one() == "l"
        downgrade(pg_url, "0002")
        with engine.connect() as conn:
            assert conn.execute(query).scalar_one() == "p"
    finally:
        engine.dispose()
