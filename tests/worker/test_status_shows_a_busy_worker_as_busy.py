"""A worker busy with a long batch cannot answer a ping in time; its heartbeat (real
Redis) still says it is there, and busy, and ``newsclf status`` shows it so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_status_lists_a_busy_worker_as_busy_and_a_stopped_one_not_at_all(
    sqlite_url: str, redis_url: str, newsclf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import redis

    from newsclf.cli import main
    from newsclf.schema.db import upgrade
    from newsclf.settings import get_settings
    from newsclf.worker.heartbeat import Heartbeat

    upgrade(sqlite_url)
    monkeypatch.setenv("NEWSCLF_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("NEWSCLF_BROKER_URL", redis_url)
    get_settings.cache_clear()
    client = redis.Redis.from_url(redis_url)
    busy, idle = Heartbeat(client, "w-busy@host"), Heartbeat(client, "w-idle@host")
    busy.busy(2048)
    busy.beat()
    idle.beat()

    main(["status", "--json"])
    workers = {w["name"]: w for w in json.loads(capsys.readouterr().out)["workers"]}
    assert workers["w-busy@host"]["state"] == "busy"
    assert workers["w-busy@host"]["articles"] == 2048
    assert workers["w-idle@host"]["state"] == "idle"

    main(["status"])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "workers:" in ln)
    assert "w-busy@host (busy" in line and "2048 articles" in line and "w-idle@host (idle)" in line

    idle.stop()
    main(["status", "--json"])
    assert [w["name"] for w in json.loads(capsys.readouterr().out)["workers"]] == ["w-busy@host"]
