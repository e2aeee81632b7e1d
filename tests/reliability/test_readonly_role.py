"""The analysts' read-only PostgreSQL role: it reads the results and writes nothing.

`newsclf db create-readonly-role` runs as a user runs it (a subprocess); the
checks connect as that role to a fresh database of the PostgreSQL on 127.0.0.1.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql
from services import run_cli, service_env


@pytest.fixture
def role_name(pg_url: str) -> Iterator[str]:
    """A cluster-wide role name for one test, dropped (with its grants) afterwards."""
    name = "newsclf_ro_" + uuid.uuid4().hex[:8]
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture
def env(pg_url: str, tmp_path: Path) -> dict[str, str]:
    env = service_env(
        database_url=pg_url, broker_url="redis://127.0.0.1:6399/0", models_dir=tmp_path / "models"
    )
    assert run_cli(env, "db", "upgrade").returncode == 0
    return env


def as_role(pg_url: str, role: str) -> psycopg.Connection:
    server, _, database = pg_url.rpartition("/")
    return psycopg.connect(f"{server.replace('postgres@', role + '@')}/{database}", autocommit=True)


def seed(pg_url: str) -> None:
    """One article, one active model (which recreates the view), one prediction."""
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.schema.predictions import insert_predictions
    from newsclf.schema.registry import register_model_version

    engine = make_engine(pg_url)
    with session_factory(engine).begin() as session:
        [(article_id, _)] = upsert_articles(session, [{"text": "Shares fell.", "source": "t"}])
        register_model_version(
            session, version="v1", sha256="0" * 64, path="/nowhere", labels=["business", "sport"],
            metrics=None, config=None, accuracy=None, data_sha256=None,
        )  # fmt: skip
        insert_predictions(
            session,
            [{"article_id": article_id, "model_version": "v1", "label": "business",
              "confidence": 0.9, "probabilities": {"business": 0.9, "sport": 0.1}}],
        )  # fmt: skip
    engine.dispose()


WRITES = [
    "INSERT INTO articles (text, content_sha256) VALUES ('x', 'x')",
    "UPDATE predictions SET label = 'sport'",
    "DELETE FROM predictions",
    "UPDATE model_versions SET is_active = false",
    "TRUNCATE jobs CASCADE",
    "DROP TABLE predictions CASCADE",
    "DROP VIEW article_labels",
    "CREATE TABLE mine (x int)",
    "CREATE VIEW mine AS SELECT 1 AS x",
    "ALTER TABLE articles ADD COLUMN x int",
]


def test_the_readonly_role_reads_the_view_and_tables_and_is_refused_every_write(
    env: dict[str, str], pg_url: str, role_name: str
) -> None:
    made = run_cli(env, "db", "create-readonly-role", role_name)
    assert made.returncode == 0, made.stderr
    assert f"role {role_name} created" in made.stdout
    seed(pg_url)  # after the grant: the view recreated on activation is covered too

    with as_role(pg_url, role_name) as conn:
        rows = conn.execute("SELECT label, p_business, p_sport FROM article_labels").fetchall()
        assert rows == [("business", 0.9, 0.1)]
        for table in ("articles", "predictions", "jobs", "job_articles", "model_versions"):
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        # Two layers: transactions are read-only by default ...
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM predictions")
        # ... and with that turned off, the privileges refuse every write.
        conn.execute("SET default_transaction_read_only = off")
        for statement in WRITES:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(pg_url) as owner:
        assert owner.execute("SELECT count(*) FROM predictions").fetchone() == (1,)


def test_creating_the_readonly_role_again_changes_nothing_and_can_set_a_password(
    env: dict[str, str], pg_url: str, role_name: str
) -> None:
    assert run_cli(env, "db", "create-readonly-role", role_name).returncode == 0
    again = run_cli(
        {**env, "RO_SECRET": "s3cret'; DROP ROLE postgres; --"},
        "db", "create-readonly-role", role_name, "--password-env", "RO_SECRET",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"role {role_name} updated" in again.stdout and "password set" in again.stdout
    with psycopg.connect(pg_url) as owner:
        stored = owner.execute(
            "SELECT rolpassword IS NOT NULL, rolsuper, rolcreaterole FROM pg_authid"
            " WHERE rolname = %s",
            [role_name],
        ).fetchone()
        assert stored == (True, False, False)
        assert owner.execute("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'").fetchone()
    with as_role(pg_url, role_name) as conn:
        assert conn.execute("SELECT count(*) FROM article_labels").fetchone() == (0,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad-Name"], "role name"),
        (["postgres"], "more than read rights"),
        (["newsclf_ro_x", "--password-env", "NEWSCLF_TEST_UNSET_VAR"], "unset or empty"),
    ],
)
def test_create_readonly_role_refuses_bad_names_and_missing_passwords_in_one_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = run_cli(env, "db", "create-readonly-role", *args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_create_readonly_role_on_sqlite_says_it_needs_postgresql(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = service_env(
        database_url=sqlite_url, broker_url="redis://127.0.0.1:6399/0", models_dir=tmp_path
    )
    result = run_cli(env, "db", "create-readonly-role", "analyst")
    assert result.returncode != 0 and "need PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def other_roles(pg_url: str) -> Iterator[list[str]]:
    """Names for roles a test creates besides the read-only one; dropped afterwards."""
    names: list[str] = []
    yield names
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in names:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
                ident = sql.Identifier(name)
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def owner_sql(pg_url: str, *statements: sql.Composable | str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def can_insert(pg_url: str, role: str) -> bool:
    with as_role(pg_url, role) as conn:
        conn.execute("SET default_transaction_read_only = off")
        try:
            conn.execute("INSERT INTO articles (text, content_sha256) VALUES ('x', 'x')")
        except errors.InsufficientPrivilege:
            return False
        return True


def test_a_role_that_is_a_member_of_pg_write_all_data_is_refused_and_named(
    env: dict[str, str], pg_url: str, role_name: str, other_roles: list[str]
) -> None:
    ident = sql.Identifier(role_name)
    owner_sql(pg_url, sql.SQL("CREATE ROLE {} LOGIN").format(ident),
              sql.SQL("GRANT pg_write_all_data TO {}").format(ident))  # fmt: skip
    result = run_cli(env, "db", "create-readonly-role", role_name)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"role {role_name} is a member of pg_write_all_data" in result.stderr
    assert f"REVOKE pg_write_all_data FROM {role_name}" in result.stderr
    assert "writes none" not in result.stdout and len(result.stderr.splitlines()) == 1


def test_a_membership_through_another_role_is_refused_and_pg_read_all_data_is_fine(
    env: dict[str, str], pg_url: str, role_name: str, other_roles: list[str]
) -> None:
    ident, middle = sql.Identifier(role_name), "newsclf_mid_" + uuid.uuid4().hex[:8]
    other_roles.append(middle)
    owner_sql(pg_url, sql.SQL("CREATE ROLE {} LOGIN").format(ident),
              sql.SQL("CREATE ROLE {}").format(sql.Identifier(middle)),
              sql.SQL("GRANT pg_write_all_data TO {}").format(sql.Identifier(middle)),
              sql.SQL("GRANT {} TO {}").format(sql.Identifier(middle), ident),
              sql.SQL("GRANT pg_read_all_data TO {}").format(ident))  # fmt: skip
    refused = run_cli(env, "db", "create-readonly-role", role_name)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"member of {middle}, pg_write_all_data" in refused.stderr
    owner_sql(pg_url, sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(middle), ident))
    made = run_cli(env, "db", "create-readonly-role", role_name)
    assert made.returncode == 0, made.stderr
    assert "writes none" in made.stdout
    assert not can_insert(pg_url, role_name)


def test_write_default_privileges_are_revoked_and_a_grant_to_public_is_refused(
    env: dict[str, str], pg_url: str, role_name: str
) -> None:
    ident = sql.Identifier(role_name)
    owner_sql(pg_url, sql.SQL("CREATE ROLE {} LOGIN").format(ident),
              sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT INSERT, UPDATE ON TABLES"
                      " TO {}").format(ident))  # fmt: skip
    made = run_cli(env, "db", "create-readonly-role", role_name)
    assert made.returncode == 0, made.stderr
    assert "revoked default privileges (INSERT, UPDATE)" in made.stderr
    owner_sql(pg_url, "CREATE TABLE later (x int)")  # created after: not writable
    with as_role(pg_url, role_name) as conn:
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("INSERT INTO later VALUES (1)")
    owner_sql(pg_url, "GRANT INSERT ON jobs TO PUBLIC")
    refused = run_cli(env, "db", "create-readonly-role", role_name)
    assert refused.returncode == 2 and "could still write jobs" in refused.stderr
    assert "REVOKE ALL ON jobs FROM PUBLIC" in refused.stderr


def test_a_superuser_creating_the_role_covers_the_view_the_tables_owner_recreates(
    pg_url: str, tmp_path: Path, role_name: str, other_roles: list[str]
) -> None:
    """The compose layout: the app's role owns the tables and promotes models; the
    read-only role is created by the superuser (the app's role cannot create roles)."""
    app = "newsclf_app_" + uuid.uuid4().hex[:8]
    other_roles.append(app)
    database = pg_url.rpartition("/")[2]
    owner_sql(pg_url, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(app)),
              sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database),
                                                               sql.Identifier(app)))  # fmt: skip
    app_url = pg_url.replace("postgres@", app + "@")
    env = service_env(database_url=app_url, broker_url="redis://127.0.0.1:1/0",
                      models_dir=tmp_path / "models")  # fmt: skip
    assert run_cli(env, "db", "upgrade").returncode == 0
    made = run_cli({**env, "NEWSCLF_DATABASE_URL": pg_url}, "db", "create-readonly-role",
                   role_name)  # fmt: skip
    assert made.returncode == 0, made.stderr
    seed(app_url)  # the app's role activates a model: the view is recreated, owned by it
    with as_role(pg_url, role_name) as conn:
        assert conn.execute("SELECT label FROM article_labels").fetchall() == [("business",)]
    assert not can_insert(pg_url, role_name)
