"""What one article costs the shared parts (PostgreSQL, Redis), and several workers on
one backlog. Prints JSON.

    python bench/scale_out.py [--cost-articles 10000] [--articles 30000] [--workers 3]
                              [--model PATH] [--json]

Same services and environment as ``bench/throughput.py`` (NEWSCLF_BENCH_PG,
NEWSCLF_BENCH_REDIS, an empty Redis database, NEWSCLF_BENCH_DATA; a fresh
PostgreSQL database of its own, dropped at the end). RSS-sized articles
(``short_texts``) never seen before. Two parts:

cost (``--cost-articles``): ``newsclf enqueue`` with no worker running, then one
fresh worker drains the backlog and stops; then another worker idles ``--idle-s``
seconds. For each phase, per article (idle: per second; the label phase includes
the worker's start and stop): PostgreSQL transactions and rows written
(``pg_stat_database`` of the benchmark's database), WAL bytes
(``pg_current_wal_lsn``), table bytes, PostgreSQL statements when
``pg_stat_statements`` is loaded (else null), Redis commands by name and
network bytes (``INFO commandstats``, ``INFO stats``), and the CPU seconds of
the PostgreSQL and Redis servers. WAL, Redis and both servers' CPU are
server-wide: run it on servers nothing else uses. ``capacity`` turns these
into the load one worker at its drain rate puts on each, and the workers one
core of each would carry.

workers (``--articles``, ``--workers``): the backlog stored and queued first,
then the workers started at once (JSON logs). Checks that every article of the
job got exactly one prediction by the active version (none missing, none
doubled), and reports what each worker did (from its ``merged`` and ``batch``
log lines: merged batches and model batches, their sizes; from the
predictions of its batch ids: rows and rows/s over its own write window) and
the combined rate (``figures.drain_window``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import (  # noqa: E402
    CpuCounters,
    PgCounters,
    RedisCounters,
    drain_window,
    table_bytes,
    wait_rows,
)
from bench.throughput import (  # noqa: E402
    BIN,
    Services,
    bbc_texts,
    log,
    short_texts,
    train_default,
    write_csv,
)

NEWSCLF = str(BIN / "newsclf")


class Meter:
    """Every counter of the shared parts at once, and per-unit deltas between reads."""

    def __init__(self, svc: Services, conn: Any) -> None:
        self.conn = conn
        self.pg = PgCounters(conn, svc.db)
        self.redis = RedisCounters(svc.redis)
        self.cpu = CpuCounters(conn, svc.redis)

    def read(self) -> dict[str, Any]:
        return {"pg": self.pg.read(), "redis": self.redis.read(), "cpu": self.cpu.read(),
                "bytes": table_bytes(self.conn), "t": time.perf_counter()}  # fmt: skip

    def per(self, a: dict[str, Any], b: dict[str, Any], units: float) -> dict[str, Any]:
        """What happened between reads ``a`` and ``b``, per unit (an article, a second)."""

        def scaled(d: dict[str, float], digits: int = 3) -> dict[str, float]:
            return {k: round(v / units, digits) for k, v in d.items()}

        pg = PgCounters.delta(a["pg"], b["pg"])
        pg.pop("rows_fetched")  # includes this benchmark's own polling
        pg["statements"] = pg.get("statements")  # None: no pg_stat_statements
        redis = RedisCounters.delta(a["redis"], b["redis"])
        redis.pop("cmd_info", None)  # this benchmark's own reads
        commands = sum(v for k, v in redis.items() if k.startswith("cmd_"))
        grown = sum(b["bytes"].values()) - sum(a["bytes"].values())
        return {
            "postgres": scaled({k: v for k, v in pg.items() if v is not None})
            | ({} if pg["statements"] is not None else {"statements": None}),
            "table_bytes": round(grown / units, 1),
            "redis_commands": round(commands / units, 3),
            "redis": scaled(redis),
            "cpu_s": {k: round((b["cpu"][k] - a["cpu"][k]) / units, 6) for k in b["cpu"]},
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_worker(svc: Services, name: str) -> subprocess.Popen[bytes]:
    """A ``newsclf worker`` with JSON logs, its own name and metrics port."""
    env = {**svc.env, "NEWSCLF_LOG_FORMAT": "json", "NEWSCLF_METRICS_PORT": str(free_port())}
    logf = open(svc.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
    argv = [NEWSCLF, "worker", "-Q", "classify", "-n", f"{name}@bench"]
    return subprocess.Popen(argv, env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT)


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait(60)


def enqueue(svc: Services, texts: list[str], name: str) -> int:
    """Store and queue ``texts`` as one job; its id."""
    path = svc.workdir / f"{name}.csv"
    write_csv(path, texts)
    out = svc.cli("enqueue", str(path), "--source", name, "--json")
    path.unlink()
    return int(json.loads(out.splitlines()[-1])["job_id"])


SETTLE_S = 0.5
"""Seconds for a closed connection's backend to exit and publish its statistics."""

STATS_IDLE_S = 11.0
"""Seconds after which a live, idle backend has published its statistics (PostgreSQL
holds them up to PGSTAT_IDLE_INTERVAL, 10 s, when it flushed less than 1 s before)."""


def measure_cost(svc: Services, conn: Any, texts: list[str], idle_s: float) -> dict[str, Any]:
    """Counters around each phase. A phase ends when its processes have exited, since a
    live backend may hold its statistics for seconds (``STATS_IDLE_S``)."""
    meter = Meter(svc, conn)
    base = svc.last_id()
    a = meter.read()
    enqueue(svc, texts, "cost")
    time.sleep(SETTLE_S)
    b = meter.read()
    workers = [start_worker(svc, "cost")]
    try:
        wait_rows(conn, len(texts), base, timeout=1800)
    finally:
        stop(workers)
    time.sleep(SETTLE_S)
    c = meter.read()
    window = drain_window(conn, base)
    workers = [start_worker(svc, "idle")]
    try:
        svc.wait_ready("idle")
        time.sleep(STATS_IDLE_S)
        d = meter.read()
        time.sleep(idle_s)
    finally:
        stop(workers)
    time.sleep(SETTLE_S)
    e = meter.read()
    conn.rollback()
    n = len(texts)
    out = {
        "articles": n,
        "worker_aps": window["aps"],
        "enqueue": meter.per(a, b, n),
        "label": meter.per(b, c, n),
        "total": meter.per(a, c, n),
        "idle_worker_per_s": meter.per(d, e, e["t"] - d["t"]),
        "pg_stat_statements": meter.pg.statements,
    }
    out["capacity"] = capacity(out["total"], window["aps"] or 0.0)
    log(f"cost: {n} articles, one worker at {window['aps']}/s")
    return out


def capacity(total: dict[str, Any], aps: float) -> dict[str, Any]:
    """The load one worker at ``aps`` articles/s puts on each shared part, and how many
    such workers one core of the PostgreSQL server, and the Redis server (one thread),
    would carry, from their CPU seconds per article alone."""
    pg_s, redis_s = total["cpu_s"]["postgres_cpu_s"], total["cpu_s"]["redis_cpu_s"]
    written = sum(total["postgres"][k] for k in ("rows_inserted", "rows_updated", "rows_deleted"))
    per_worker = {
        "postgres_core_share": round(pg_s * aps, 3),
        "redis_core_share": round(redis_s * aps, 3),
        "postgres_commits_per_s": round(total["postgres"]["commits"] * aps, 1),
        "postgres_rows_written_per_s": round(written * aps, 1),
        "wal_mb_per_s": round(total["postgres"]["wal_bytes"] * aps / 2**20, 2),
        "redis_commands_per_s": round(total["redis_commands"] * aps, 1),
    }
    return {
        "worker_aps": aps,
        "per_worker": per_worker,
        "workers_per_postgres_core": round(1 / (pg_s * aps), 1) if pg_s * aps > 0 else None,
        "workers_per_redis": round(1 / (redis_s * aps), 1) if redis_s * aps > 0 else None,
    }


def log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def sizes_of(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "min": min(values), "mean": round(statistics.mean(values), 1),
            "max": max(values)}  # fmt: skip


def per_worker(svc: Services, conn: Any, names: list[str], base: int) -> dict[str, Any]:
    """Each worker's merged and model batches (its log) and its rows and write window
    (the predictions of its batch ids)."""
    out = {}
    for name in names:
        lines = log_lines(svc.workdir / f"{name}.log")
        merged = [x for x in lines if x.get("event") == "merged"]
        batches = [x for x in lines if x.get("event") == "batch"]
        ids = sorted({x["batch_id"] for x in merged} | {x["batch_id"] for x in batches})
        rows, first, last = conn.execute(
            """SELECT count(*), min(created_at), max(created_at) FROM predictions
               WHERE id > %s AND batch_id = ANY(%s)""",
            (base, ids),
        ).fetchone()
        seconds = (last - first).total_seconds() if rows else 0.0
        out[name] = {
            "rows": rows,
            "write_window_s": round(seconds, 3),
            "merged_batches": sizes_of([int(x["articles"]) for x in merged]),
            "model_batches": sizes_of([int(x["size"]) for x in batches]),
            "inserted": sum(int(x.get("inserted", 0)) for x in merged),
            "skipped": sum(int(x.get("skipped", 0)) for x in merged),
        }
    conn.rollback()
    return out


def checks(conn: Any, job_id: int) -> dict[str, int]:
    """Every article of the job labeled once by the active version: counts that must be 0."""
    one = """SELECT count(*) FROM job_articles ja WHERE ja.job_id = %s AND {}"""
    active = "(SELECT version FROM model_versions WHERE is_active)"
    by_active = f"p.article_id = ja.article_id AND p.model_version = {active}"
    out = {
        "articles": conn.execute(one.format("true"), (job_id,)).fetchone()[0],
        "missing": conn.execute(
            one.format(f"NOT EXISTS (SELECT 1 FROM predictions p WHERE {by_active})"), (job_id,)
        ).fetchone()[0],
        "doubled": conn.execute(
            one.format(f"(SELECT count(*) FROM predictions p WHERE {by_active}) > 1"), (job_id,)
        ).fetchone()[0],
        "delivered_more_than_once": conn.execute(
            one.format("(SELECT attempts FROM deliveries d WHERE d.article_id = ja.article_id) > 1"),
            (job_id,),
        ).fetchone()[0],
    }
    conn.rollback()
    return out


def measure_workers(svc: Services, conn: Any, texts: list[str], count: int) -> dict[str, Any]:
    base = svc.last_id()
    job_id = enqueue(svc, texts, "backlog")
    names = [f"w{i + 1}" for i in range(count)]
    started = time.perf_counter()
    workers = [start_worker(svc, name) for name in names]
    try:
        wait_rows(conn, len(texts), base, timeout=3600)
        wall = time.perf_counter() - started
        time.sleep(1.0)  # the last merged lines reach the logs
    finally:
        stop(workers)
    window = drain_window(conn, base)
    conn.rollback()
    out = {
        "workers": count,
        "articles": len(texts),
        "check": checks(conn, job_id),
        "combined_aps": window["aps"],
        "combined_window": window,
        "start_to_last_row_s": round(wall, 2),
        "per_worker": per_worker(svc, conn, names, base),
    }
    log(f"{count} workers: {out['check']}, {window['aps']}/s combined")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost-articles", type=int, default=10_000, help="0: skip the part")
    parser.add_argument("--articles", type=int, default=30_000, help="the workers' backlog")
    parser.add_argument("--workers", type=int, default=3, help="0: skip the part")
    parser.add_argument("--idle-s", type=float, default=3.0, help="an idle worker's cost over")
    parser.add_argument("--model", type=Path, help="artifact directory (default: train one)")
    parser.add_argument("--json", action="store_true", help="print the JSON on one line")
    args = parser.parse_args()
    import psycopg

    with tempfile.TemporaryDirectory(prefix="newsclf-scale-out-") as tmp:
        workdir = Path(tmp)
        model = args.model or train_default(workdir)
        base = bbc_texts()
        svc = Services(model, workdir)
        result: dict[str, Any] = {"model": str(model), "cpus": os.cpu_count()}
        try:
            with psycopg.connect(svc.url) as conn:
                if args.cost_articles:
                    texts = short_texts(base, args.cost_articles)
                    result["cost"] = measure_cost(svc, conn, texts, args.idle_s)
                if args.workers:
                    texts = short_texts(base, args.articles, start=args.cost_articles)
                    result["scale_out"] = measure_workers(svc, conn, texts, args.workers)
        finally:
            svc.close()
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
