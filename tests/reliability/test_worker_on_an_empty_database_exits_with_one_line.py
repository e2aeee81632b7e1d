"""A worker started on a database that was never migrated exits non-zero with the
CLI's one line (`run newsclf db upgrade first`), no traceback and never `ready.`."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import own_redis_db
from services import service_env

from newsclf.errors import NO_TABLES


@pytest.mark.slow
def test_a_worker_on_a_database_without_tables_exits_non_zero_with_one_line(
    pg_url: str, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        env = service_env(database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "m")
        worker = start_worker(env, ready=False)
        code = worker.proc.wait(120)
        log = worker.log()
        print(f"\nworker on an empty database: exit {code}; log tail:\n{log[-600:]}")
        assert code != 0
        assert log.count(NO_TABLES) == 1
        assert "Traceback" not in log and "ready." not in log
