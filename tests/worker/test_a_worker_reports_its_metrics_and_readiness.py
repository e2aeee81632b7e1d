"""A real worker with its port on: readiness, the metrics of a job, JSON logs, health."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from services import newsclf_cmd, service_env

N_ARTICLES = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(newsclf_cmd(*args), env=env, capture_output=True, text=True, timeout=300)


def write_feed(bbc_csv: Path, path: Path, n: int) -> None:
    import csv

    seen: set[str] = set()
    with open(bbc_csv, newline="", encoding="utf-8") as src, open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for row in csv.DictReader(src):
            if row["text"] not in seen:
                seen.add(row["text"])
                writer.writerow([len(seen), row["text"]])
            if len(seen) == n:
                break


def not_python(line: str) -> bool:
    """A line TensorFlow's C++ core or Celery's last words wrote to stderr themselves
    (``worker.logs`` says why these are not JSON)."""
    return bool(
        re.match(r"[IWEF]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\]", line)
        or line.startswith("WARNING: All log messages before absl::InitializeLog()")
        or re.fullmatch(r"worker: \w+ shutdown \(MainProcess\)", line)
    )


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text as {sample name: [(labels, value)]}."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.mark.slow
def test_readiness_flips_after_warm_up_and_a_job_shows_in_the_metrics_and_json_logs(
    pg_url: str, redis_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    port = free_port()
    env = service_env(
        database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "models",
        metrics_port=str(port), log_format="json",
    )  # fmt: skip
    assert cli(env, "db", "upgrade").returncode == 0
    unhealthy = cli(env, "health")
    assert unhealthy.returncode == 1 and unhealthy.stdout.startswith(
        "unhealthy: database: no active"
    )

    # No model yet: the worker starts, is alive, and says it is not ready.
    worker = start_worker(env)
    assert get(port, "/livez") == (200, "ok\n")
    assert get(port, "/readyz") == (503, "model not loaded yet\n")
    assert cli(env, "health", "--port", str(port)).returncode == 1

    version = json.loads(cli(env, "models", "register", str(tiny_artifact), "--json").stdout)
    feed = tmp_path / "feed.csv"
    write_feed(bbc_csv, feed, N_ARTICLES)
    done = cli(env, "enqueue", str(feed), "--wait", "--timeout", "120", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["labeled"] == N_ARTICLES

    code, line = get(port, "/readyz")
    assert code == 200 and version["version"] in line
    healthy = cli(env, "health", "--port", str(port))
    assert healthy.returncode == 0 and healthy.stdout.count("\n") == 1, healthy.stdout

    code, body = get(port, "/metrics")
    assert code == 200
    m = samples(body)
    labeled = m["newsclf_articles_labeled_total"]
    assert sum(v for _, v in labeled) == N_ARTICLES
    assert {labels["model_version"] for labels, _ in labeled} == {version["version"]}
    assert m["newsclf_model_info"] == [({"version": version["version"]}, 1.0)]
    for name in ("batch_size", "padded_length", "inference_seconds", "batch_seconds"):
        [(_, count)] = m[f"newsclf_{name}_count"]
        assert count >= 1, name
    # Per article: every article's wait and every prediction's confidence, counted once.
    assert m["newsclf_queue_wait_seconds_count"] == [({}, float(N_ARTICLES))]
    assert m["newsclf_confidence_count"] == [({"model_version": version["version"]}, N_ARTICLES)]
    [(_, articles)] = m["newsclf_batch_size_sum"]
    assert articles == N_ARTICLES
    assert m["newsclf_queue_depth"] == [({}, 0.0)]
    assert m["newsclf_articles_failed_total"] == [({}, 0.0)]

    # status lists the worker from its heartbeat, idle now, serving the version.
    # (Heartbeats are written every few seconds: wait for one written after the job.)
    deadline = time.monotonic() + 20
    while True:
        [seen] = json.loads(cli(env, "status", "--json").stdout)["workers"]
        if seen["model_version"] == version["version"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert seen["name"].startswith("w0-") and seen["state"] == "idle"
    assert seen["model_version"] == version["version"]

    # Every line the worker logged is one JSON object; the batch lines carry their fields.
    worker.stop()
    lines = [ln for ln in worker.log().splitlines() if ln.strip() and not not_python(ln)]
    parsed = [json.loads(ln) for ln in lines]
    batches = [p for p in parsed if p.get("event") == "batch"]
    assert sum(b["size"] for b in batches) == N_ARTICLES
    assert {"batch_id", "padded_length", "model_version", "seconds"} <= set(batches[0])
    merged = [p for p in parsed if p.get("event") == "merged"]
    assert sum(b["inserted"] for b in merged) == N_ARTICLES
    assert any(p["message"].endswith("ready.") for p in parsed)


def test_health_says_in_one_line_what_is_missing(pg_url: str, tmp_path: Path) -> None:
    env = service_env(
        database_url=pg_url, broker_url="redis://127.0.0.1:1/0", models_dir=tmp_path / "models"
    )
    no_tables = cli(env, "health")
    assert no_tables.returncode == 1
    assert no_tables.stdout.startswith("unhealthy: database: the database has no newsclf tables")
    assert no_tables.stdout.count("\n") == 1
