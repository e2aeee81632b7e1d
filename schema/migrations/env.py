"""Alembic environment: the connection or URL comes from ``schema.db`` in code.

``schema.db.upgrade(url)`` passes an open connection in ``config.attributes``;
without one, the URL in ``attributes["url"]`` (or ``sqlalchemy.url``, or the
settings) is used. SQLite gets batch mode, so later ALTERs work there too.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from newsclf.schema.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> Any:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from newsclf.settings import get_settings

    return get_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from newsclf.schema.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
