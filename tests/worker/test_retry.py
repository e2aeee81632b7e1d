"""Waits for the database end once the worker is stopping (``worker.retry``), without Celery."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from newsclf.worker import retry


def lost_connection() -> None:
    raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_a_lost_connection_is_retried_with_backoff_until_the_server_is_back() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            lost_connection()
        return "rows"

    assert retry.retry_db(flaky, what="claim", sleep=waits.append) == "rows"
    assert waits == [0.5, 1.0, 2.0]


def test_once_the_worker_is_stopping_a_lost_connection_ends_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retry, "_stopping", True)
    waits: list[float] = []
    with pytest.raises(retry.ShuttingDown):
        retry.retry_db(lost_connection, what="claim", sleep=waits.append)
    assert waits == []
    # Work that reaches the database still runs: a batch in hand is finished.
    assert retry.retry_db(lambda: "rows", what="write") == "rows"


def test_a_pause_in_progress_ends_when_the_worker_starts_stopping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks: list[float] = []

    def sleep(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) == 3:
            monkeypatch.setattr(retry, "_stopping", True)  # the signal arrives

    monkeypatch.setattr(retry.time, "sleep", sleep)
    with pytest.raises(retry.ShuttingDown):
        retry.pause(15.0)
    assert len(ticks) == 3 and max(ticks) <= retry.TICK_S


def test_a_shutdown_is_not_an_exception_so_no_batch_takes_it_for_a_failure() -> None:
    assert not issubclass(retry.ShuttingDown, Exception)
