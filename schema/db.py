"""Engines, sessions and migrations. Nothing connects at import time::

    from newsclf.schema.db import make_engine, session_factory, upgrade

    upgrade("sqlite:///newsclf.db")           # Alembic, to the newest revision
    engine = make_engine("postgresql://postgres@127.0.0.1/newsclf")
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ...

The Alembic environment ships inside this package (``schema/migrations``) and
its config is built here in code, so migrations run from an installed package
with no ``alembic.ini`` anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory, inside the installed package."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another one's lock before failing."""

PG_CONNECT_TIMEOUT_S = 10
"""Seconds before a PostgreSQL connection attempt gives up (an unreachable server fails fast)."""


def normalize_url(url: str | URL) -> URL:
    """``url`` with a plain ``postgresql://`` mapped to the psycopg 3 driver we install."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys on and a busy
    timeout (several processes may write); PostgreSQL with pre-ping, so a
    restarted server costs a reconnect, not an error, and lists sent as binary
    arrays."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, **kwargs.pop("connect_args", {})}
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _binary_arrays)
        return engine
    return create_engine(parsed, **kwargs)


def _binary_arrays(dbapi_connection: Any, _record: Any) -> None:
    """Python lists travel to PostgreSQL as binary arrays.

    The bulk statements pass one array per column (``schema.bulk``). In text
    format psycopg quotes and regex-escapes every element in Python (each
    article's whole text), and the server parses it back; in binary each element
    is its bytes and a length: less client CPU and a shorter round trip.
    """
    from psycopg.types.array import ListBinaryDumper

    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def has_table(bind: Engine | Connection, name: str) -> bool:
    """Whether the database holds table ``name`` (``newsclf db upgrade`` creates them all)."""
    from sqlalchemy import inspect

    if isinstance(bind, Connection):
        return bool(inspect(bind).has_table(name))
    with bind.connect() as conn:
        return bool(inspect(conn).has_table(name))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | URL | None = None) -> Any:
    """An Alembic ``Config`` for the packaged migrations (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = normalize_url(url)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (creating it on SQLite)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base``: empty)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision the packaged migrations know."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
