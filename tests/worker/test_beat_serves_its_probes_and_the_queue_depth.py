"""``newsclf beat`` with its port on: ready once the database and Redis answer (it
serves no model), the queue depth it reports is the classify queue's, and with
JSON logs every line it writes is one JSON object."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from services import newsclf_cmd, service_env
from test_a_worker_reports_its_metrics_and_readiness import free_port, get, samples


@pytest.mark.slow
def test_beat_is_ready_without_a_model_and_reports_the_queue_depth(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    import redis

    port = free_port()
    env = service_env(
        database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "models",
        metrics_port=str(port), task_chunk="10", log_format="json",
    )  # fmt: skip
    assert subprocess.run(newsclf_cmd("db", "upgrade"), env=env).returncode == 0
    redis.Redis.from_url(redis_url).rpush("classify", "m1", "m2", "m3")
    log = tmp_path / "beat.log"
    with open(log, "w") as out:
        beat = subprocess.Popen(
            newsclf_cmd("beat"), env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = get(port, "/readyz")
                break
            except OSError:
                assert beat.poll() is None, "beat exited"
                time.sleep(0.2)
        assert ready == (200, "ready\n")
        assert get(port, "/livez") == (200, "ok\n")
        assert samples(get(port, "/metrics")[1])["newsclf_queue_depth"] == [({}, 30.0)]
    finally:
        beat.send_signal(signal.SIGTERM)
        beat.wait(20)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert any(json.loads(line)["message"] == "beat: Starting..." for line in lines)
