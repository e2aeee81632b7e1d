"""SIGTERM ends a worker within seconds whatever it is doing: waiting for a database
that is down, waiting for a broker that is down, or idle.

Each worker is a real ``newsclf worker`` subprocess; "down" is a port on
127.0.0.1 that nothing listens on. The 15 s limit is the issue's requirement (a
deploy's grace period), not a measurement: the worker should be gone in about one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from faults import make_service, wait_for
from servers import own_redis_db
from services import service_env

STOP_WITHIN_S = 15


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sigterm_and_wait(worker) -> int:  # type: ignore[no-untyped-def]
    """SIGTERM the worker (its process only, as a supervisor does); its exit code."""
    os.kill(worker.proc.pid, signal.SIGTERM)
    try:
        return worker.proc.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"worker still running {STOP_WITHIN_S}s after SIGTERM:\n{worker.log()[-3000:]}"
        ) from None


@pytest.mark.slow
def test_sigterm_ends_a_worker_waiting_for_a_database_that_is_down(
    tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        env = service_env(
            database_url=f"postgresql://postgres@127.0.0.1:{closed_port()}/newsclf",
            broker_url=redis_url,
            models_dir=tmp_path / "models",
        )
        worker = start_worker(env, ready=False)
        # Past the first tries: the waits between them are the long ones.
        wait_for(
            lambda: worker.log().count("database unreachable") >= 4,
            "the worker to wait for the database",
            timeout=120,
        )
        code = sigterm_and_wait(worker)
        print(f"\nSIGTERM while waiting for the database: exit {code}")
        assert "ready." not in worker.log()


@pytest.mark.slow
def test_sigterm_ends_a_worker_waiting_for_a_broker_that_is_down(
    pg_url: str, tiny_artifact: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
    env = {**service.env, "NEWSCLF_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    worker = start_worker(env, ready=False)
    wait_for(
        lambda: "Cannot connect to redis" in worker.log(),
        "the worker to wait for the broker",
        timeout=120,
    )
    code = sigterm_and_wait(worker)
    print(f"\nSIGTERM while waiting for the broker: exit {code}")


@pytest.mark.slow
def test_sigterm_ends_an_idle_worker(
    pg_url: str, tiny_artifact: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        worker = start_worker(service.env)
        code = sigterm_and_wait(worker)
        print(f"\nSIGTERM while idle: exit {code}")
        assert code == 0
