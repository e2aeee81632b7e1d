"""Retry with backoff while the database is unreachable, until the worker is told to stop.

A worker that loses PostgreSQL must neither crash-loop nor keep half a batch:
each unit of work is one transaction, and a unit that fails on a lost
connection is rolled back and run again, with capped exponential backoff,
until the server is back::

    rows = retry_db(lambda: claim(...), what="claim")

Every wait notices shutdown: once ``stop_waiting()`` was called (the worker's
SIGTERM/SIGINT handler does), a unit that fails on a lost connection raises
``ShuttingDown`` instead of waiting, and a wait in progress ends within
``TICK_S``. Work that does reach the database is not interrupted, so a batch in
hand with the database up is finished.
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

TICK_S = 0.2
"""How often a wait looks whether the worker is stopping."""

_stopping = False
"""Set (once) by ``stop_waiting``; a flag, not a lock, so a signal handler may set it."""


class ShuttingDown(BaseException):  # noqa: N818 - named for what happens, like SystemExit
    """The worker is stopping while it waits for the database.

    A BaseException, so that no ``except Exception`` on the way takes it for a
    failed batch: the batch's messages go back to the queue instead of being acked."""


def stop_waiting() -> None:
    """From now on, waits for the database end at once (``ShuttingDown``)."""
    global _stopping
    _stopping = True


def stopping() -> bool:
    """Whether ``stop_waiting`` was called."""
    return _stopping


def pause(seconds: float) -> None:
    """Sleep ``seconds``, or raise ``ShuttingDown`` as soon as the worker is stopping."""
    deadline = time.monotonic() + seconds
    while True:
        if _stopping:
            raise ShuttingDown
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, TICK_S))


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
    sleep: Callable[[float], None] = pause,
) -> T:
    """Run ``fn`` until it does not fail on a lost connection; re-raise anything else.

    Raises ``ShuttingDown`` instead of waiting once the worker is stopping."""
    delay = FIRST_DELAY_S
    started = time.monotonic()
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            if _stopping:
                raise ShuttingDown from exc
            waited = time.monotonic() - started
            if give_up_after_s is not None and waited >= give_up_after_s:
                raise
            first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[:1]
            log.warning(
                "database unreachable during %s (%s); retrying in %.1fs", what, first, delay
            )
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
