"""What CLI commands share: settings, sessions, the Celery app, JSON output."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from newsclf.errors import NO_TABLES, NewsclfError
from newsclf.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def sessions(*, upgrade: bool = False) -> sessionmaker[Session]:
    """Sessions on the configured database; migrate it first when ``upgrade``."""
    from newsclf.schema.db import has_table, make_engine, session_factory
    from newsclf.schema.db import upgrade as run_upgrade

    url = settings().database_url
    if upgrade:
        run_upgrade(url)
    engine = make_engine(url)
    if not has_table(engine, "articles"):
        raise NewsclfError(NO_TABLES)
    return session_factory(engine)


def echo_json(obj: Any) -> None:
    """One JSON object on one line (the last line of stdout, for scripts)."""
    click.echo(json.dumps(obj, default=str, sort_keys=False))


class _Quiet:
    """A progress bar that draws nothing (stderr is not a terminal)."""

    label = ""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None

    def render_progress(self) -> None:
        return None


def progress_bar(length: int, label: str) -> Any:
    """click's progress bar on a terminal; nothing when stderr is a pipe or a file."""
    import sys

    if not sys.stderr.isatty():
        return _Quiet()
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True)
