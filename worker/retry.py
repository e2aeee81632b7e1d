"""Retry with backoff while the database is unreachable.

A worker that loses PostgreSQL must neither crash-loop nor keep half a batch:
each unit of work is one transaction, and a unit that fails on a lost
connection is rolled back and run again, with capped exponential backoff,
until the server is back::

    rows = retry_db(lambda: claim(...), what="claim")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc

T = TypeVar("T")
log = logging.getLogger("newsclf.worker")

FIRST_DELAY_S = 0.5
"""First wait after a lost connection."""

MAX_DELAY_S = 15.0
"""Longest wait between two tries."""


def is_connection_error(exc: BaseException) -> bool:
    """True for errors that mean 'the server is gone', not 'the statement is wrong'."""
    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return True
    return isinstance(exc, sqlalchemy.exc.DBAPIError) and bool(exc.connection_invalidated)


def retry_db(
    fn: Callable[[], T],
    *,
    what: str,
    give_up_after_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn`` until it does not fail on a lost connection; re-raise anything else."""
    delay = FIRST_DELAY_S
    started = time.monotonic()
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            waited = time.monotonic() - started
            if give_up_after_s is not None and waited >= give_up_after_s:
                raise
            first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[:1]
            log.warning(
                "database unreachable during %s (%s); retrying in %.1fs", what, first, delay
            )
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
