"""What CLI commands share: settings, sessions, the Celery app, JSON output."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from newsclf.errors import NewsclfError
from newsclf.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def sessions(*, upgrade: bool = False) -> sessionmaker[Session]:
    """Sessions on the configured database; migrate it first when ``upgrade``."""
    from schema.db import make_engine, session_factory
    from schema.db import upgrade as run_upgrade

    url = settings().database_url
    if upgrade:
        run_upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        if not inspect(conn).has_table("articles"):
            raise NewsclfError(
                "the database has no newsclf tables yet: run `newsclf db upgrade` first"
            )
    return session_factory(engine)


def echo_json(obj: Any) -> None:
    """One JSON object on one line (the last line of stdout, for scripts)."""
    click.echo(json.dumps(obj, default=str, sort_keys=False))
