"""Figures the benchmarks share, each read from the database, Redis or a timed
``newsclf`` process (used by ``throughput.py``, ``scale.py`` and ``scale_out.py``).

- ``drain_window``: the rate of a backlog drained by a worker, from the
  predictions' ``created_at`` (the transaction start of each write);
- ``cli_wall`` / ``cli_start``: wall seconds of ``newsclf`` commands as a user runs them;
- ``export``: ``newsclf results --job`` to a file, rows per second;
- ``table_bytes``: ``pg_total_relation_size`` of every newsclf table (indexes and TOAST);
- ``PgCounters`` / ``RedisCounters``: what a stretch of work wrote to PostgreSQL
  (rows, transactions, WAL bytes) and asked of Redis (commands by name).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

NEWSCLF_TABLES = (
    "articles",
    "jobs",
    "job_articles",
    "job_other_lines",
    "predictions",
    "deliveries",
    "label_counts",
    "model_versions",
    "model_blobs",
    "model_activations",
    "feedback",
    "training_runs",
    "review_picks",
    "drift_checks",
)
"""Tables whose size counts as the database's (those that exist; the registry's are
constant, the rest grow with the articles)."""

PER_ARTICLE_TABLES = (
    "articles", "jobs", "job_articles", "job_other_lines", "predictions", "deliveries",
)  # fmt: skip
"""Tables that grow with the articles stored and labeled."""

PER_DAY_QUERY = """SELECT day, source, label, articles
FROM label_counts
WHERE model_version = (SELECT version FROM model_versions WHERE is_active)
ORDER BY day, source, articles DESC"""
"""The README's "Label counts per day and source" example, as printed there."""


def drain_window(conn: Any, after_id: int) -> dict[str, Any]:
    """How fast the predictions with an id above ``after_id`` were written.

    Every row of one write transaction has the same ``created_at`` (PostgreSQL's
    ``now()``: the transaction's start), so the window runs from the first write's start
    to the last write's start (its commit follows within milliseconds), and the rows
    drained in it are all but the first write's: every later model batch was claimed,
    encoded, run and written inside it. ``aps`` is those rows over its seconds; the
    first write's rows and the window are reported beside it."""
    row = conn.execute(
        """WITH d AS (SELECT created_at FROM predictions WHERE id > %s)
           SELECT count(*), min(created_at), max(created_at),
                  count(*) FILTER (WHERE created_at = (SELECT min(created_at) FROM d))
           FROM d""",
        (after_id,),
    ).fetchone()
    rows, first, last, first_rows = row
    seconds = (last - first).total_seconds() if rows else 0.0
    return {
        "rows": rows,
        "first_write_rows": first_rows,
        "window_s": round(seconds, 3),
        "aps": round((rows - first_rows) / seconds, 1) if seconds > 0 else None,
    }


def cli_wall(newsclf: str, args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one ``newsclf`` command, output discarded; SystemExit if it fails."""
    t = time.perf_counter()
    out = subprocess.run([newsclf, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"newsclf {' '.join(args)} failed: {out.stderr.strip()[-1000:]}")
    return wall


def cli_start(newsclf: str, env: dict[str, str], runs: int = 5) -> dict[str, Any]:
    """Median wall seconds of ``newsclf models list`` and ``newsclf status`` (``runs``
    each, alternating, after one unmeasured run of each that warms the page cache):
    ``cli_start_s`` is the median of all of them. On an empty database it is what the
    process start and imports cost, since neither command has rows to read.
    ``newsclf --help`` (no command's imports, no connection) is timed beside them as
    ``cli_help_s``, not counted in the median."""
    commands = {"models_list": ["models", "list"], "status": ["status"], "help": ["--help"]}
    for args in commands.values():
        cli_wall(newsclf, args, env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            walls[name].append(cli_wall(newsclf, args, env))
    every = [w for name, ws in walls.items() if name != "help" for w in ws]
    return {
        "cli_start_s": round(statistics.median(every), 3),
        "cli_start_by_command_s": {
            k: round(statistics.median(v), 3) for k, v in walls.items() if k != "help"
        },
        "cli_help_s": round(statistics.median(walls["help"]), 3),
        "cli_start_runs": runs,
    }


def export(newsclf: str, env: dict[str, str], job_id: int, path: Path) -> dict[str, Any]:
    """``newsclf results --job`` to a CSV file: wall seconds and rows (lines but the
    header) per second."""
    wall = cli_wall(newsclf, ["results", "--job", str(job_id), "-o", str(path)], env)
    with open(path, "rb") as f:
        rows = sum(1 for _ in f) - 1
    path.unlink()
    return {"rows": rows, "s": round(wall, 3), "rows_per_s": round(rows / wall, 1)}


def table_bytes(conn: Any) -> dict[str, int]:
    """``pg_total_relation_size`` of each newsclf table that exists (heap, indexes, TOAST)."""
    rows = conn.execute(
        """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(%s)""",
        (list(NEWSCLF_TABLES),),
    ).fetchall()
    return {name: int(size) for name, size in rows}


class PgCounters:
    """PostgreSQL's cumulative counters for one database, and their change over a stretch.

    ``pg_stat_database`` gives commits and rows inserted, updated, deleted and
    fetched; ``pg_current_wal_lsn`` the WAL written by the whole server (the benchmark
    being what runs, it is the benchmark's); ``pg_stat_statements``, when the
    server loads it, the statements executed by this database's clients."""

    def __init__(self, conn: Any, dbname: str) -> None:
        self.conn = conn
        self.dbname = dbname
        self.statements = self._has_statements()

    def _has_statements(self) -> bool:
        try:
            self.conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
            return True
        except Exception:  # noqa: BLE001 - not installed, or not preloaded
            self.conn.rollback()
            return False

    def read(self) -> dict[str, float]:
        # The statistics collector publishes counters lazily; ask for a fresh snapshot.
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        row = self.conn.execute(
            """SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,
                      tup_fetched, blks_read + blks_hit,
                      pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')
               FROM pg_stat_database WHERE datname = %s""",
            (self.dbname,),
        ).fetchone()
        keys = ("commits", "rollbacks", "rows_inserted", "rows_updated", "rows_deleted",
                "rows_fetched", "blocks_touched", "wal_bytes")  # fmt: skip
        out = {k: float(v) for k, v in zip(keys, row, strict=True)}
        if self.statements:
            calls = self.conn.execute(
                """SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s
                   JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s""",
                (self.dbname,),
            ).fetchone()[0]
            out["statements"] = float(calls)
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in after}


class RedisCounters:
    """Commands the Redis server ran, by name (``INFO commandstats``), and bytes it took
    in and sent (``INFO stats``): server-wide, so measured while the benchmark is what
    runs."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def read(self) -> dict[str, float]:
        out = {
            f"cmd_{name.removeprefix('cmdstat_')}": float(stats["calls"])
            for name, stats in self.client.info("commandstats").items()
        }
        stats = self.client.info("stats")
        out["net_input_bytes"] = float(stats["total_net_input_bytes"])
        out["net_output_bytes"] = float(stats["total_net_output_bytes"])
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        changed = {k: after[k] - before.get(k, 0.0) for k in after}
        return {k: v for k, v in changed.items() if v}


def wait_rows(conn: Any, target: int, after_id: int, timeout: float) -> float:
    """Seconds until ``target`` predictions with an id above ``after_id`` are committed,
    polled every 50 ms in one read-committed transaction (rolled back at the end), so
    that the polling adds one transaction to the database's counters, not one a poll."""
    start = time.perf_counter()
    try:
        while True:
            got = conn.execute("SELECT count(*) FROM predictions WHERE id > %s", (after_id,))
            n = got.fetchone()[0]
            if n >= target:
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise SystemExit(f"only {n} of {target} predictions after {timeout}s")
            time.sleep(0.05)
    finally:
        conn.rollback()


class CpuCounters:
    """CPU seconds the PostgreSQL server (every process of the postmaster that serves
    ``conn``, and the backends it reaped meanwhile) and the Redis server (``INFO cpu``)
    have used so far: server-wide, like the WAL."""

    def __init__(self, conn: Any, redis_client: Any) -> None:
        import psutil

        backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        self.postmaster = backend.parent()
        self.redis = redis_client

    def read(self) -> dict[str, float]:
        import psutil

        t = self.postmaster.cpu_times()
        # A backend that exits hands its CPU time to the postmaster's children_* fields.
        pg = t.user + t.system + t.children_user + t.children_system
        for child in self.postmaster.children():
            try:
                c = child.cpu_times()
            except psutil.Error:  # ended meanwhile: counted in children_* next time
                continue
            pg += c.user + c.system
        cpu = self.redis.info("cpu")
        redis_s = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return {"postgres_cpu_s": pg, "redis_cpu_s": redis_s}
