"""A million short articles through one worker: does throughput hold, what does the
database weigh, how fast are the reads at the end. Prints JSON.

    python bench/scale.py [--articles 1000000] [--round 100000] [--model PATH] [--json]

Same services and environment as ``bench/throughput.py`` (NEWSCLF_BENCH_PG,
NEWSCLF_BENCH_REDIS, an empty Redis database, NEWSCLF_BENCH_DATA; a fresh
PostgreSQL database of its own, dropped at the end). Without --model it trains
a default model first. One ``newsclf worker`` runs throughout; each round
enqueues ``--round`` RSS-sized articles never seen before (``short_texts``) with
``newsclf enqueue``, and is timed from that command's start to the round's last
committed prediction:

- rounds: articles/s of each round, and what PostgreSQL did in it besides (WAL
  records, full-page images and MiB, checkpoints, autovacuum and autoanalyze
  runs); last_over_first: the last round's articles/s over the first's;
- db_mb_per_million: what the newsclf tables (heap, indexes, TOAST) grew by, per
  million articles, in MiB, and per table in bytes per article;
- reads at the end, each the median wall time of ``--cli-runs`` runs as a user
  runs them (a process of its own), and its excess over cli_start_s: ``newsclf
  status``, ``newsclf review``, the README's per-day query through ``newsclf
  query`` (and alone, in this process, ``per_day_query_sql_s``), and ``newsclf
  results --job`` of the last round's job (``--round`` rows), rows/s;
- cli_start_s: ``newsclf models list`` and ``newsclf status`` on the empty database;
- worker_peak_rss_mb.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import (  # noqa: E402
    PER_DAY_QUERY,
    cli_start,
    cli_wall,
    export,
    table_bytes,
)
from bench.throughput import (  # noqa: E402
    BIN,
    RssSampler,
    Services,
    bbc_texts,
    log,
    short_texts,
    train_default,
    wait_for_count,
    write_csv,
)

NEWSCLF = str(BIN / "newsclf")


def background(svc: Services) -> dict[str, int]:
    """PostgreSQL's own work so far: WAL (records, full-page images, bytes; the whole
    server's), checkpoints, and the autovacuum and autoanalyze runs on this database."""
    import psycopg

    with psycopg.connect(svc.url) as conn:
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
        checkpoints = conn.execute(
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
        ).fetchone()
        vacuums = conn.execute(
            "SELECT coalesce(sum(autovacuum_count), 0), coalesce(sum(autoanalyze_count), 0)"
            " FROM pg_stat_user_tables"
        ).fetchone()
    assert wal and checkpoints and vacuums
    return {
        "wal_records": int(wal[0]),
        "wal_fpi": int(wal[1]),
        "wal_mb": int(wal[2]) / 2**20,
        "checkpoints": int(checkpoints[0]),
        "autovacuums": int(vacuums[0]),
        "autoanalyzes": int(vacuums[1]),
    }


def run_round(svc: Services, texts: list[str], k: int) -> dict[str, Any]:
    """Enqueue ``texts`` as one job; articles/s until its last prediction is committed,
    and what PostgreSQL did in the background meanwhile (``background``)."""
    path = svc.workdir / f"round{k}.csv"
    write_csv(path, texts)
    base = svc.last_id()
    before = background(svc)
    start = time.perf_counter()
    out = svc.cli("enqueue", str(path), "--source", f"round{k}", "--json")
    enqueued = time.perf_counter() - start
    wait_for_count(svc, len(texts), timeout=3600, after_id=base)
    seconds = time.perf_counter() - start
    path.unlink()
    job_id = json.loads(out.splitlines()[-1])["job_id"]
    aps = round(len(texts) / seconds, 1)
    pg = {k: round(v - before[k], 1) for k, v in background(svc).items()}
    log(f"round {k + 1}: {len(texts)} articles in {seconds:.1f}s ({aps}/s); postgres {pg}")
    return {"articles": len(texts), "s": round(seconds, 2), "enqueue_s": round(enqueued, 2),
            "aps": aps, "job_id": job_id, "postgres": pg}  # fmt: skip


def timed_reads(svc: Services, runs: int, job_id: int, start_s: float) -> dict[str, Any]:
    """Median wall time of each read a user runs at the end, and its excess over the
    CLI's start; the export's rows per second."""
    import psycopg

    commands = {
        "status": ["status"],
        "status_json": ["status", "--json"],
        "review": ["review"],
        "per_day_query": ["query", PER_DAY_QUERY, "--format", "csv", "--limit", "0"],
    }
    out: dict[str, Any] = {}
    for name, args in commands.items():
        walls = [cli_wall(NEWSCLF, args, svc.env) for _ in range(runs)]
        median = statistics.median(walls)
        out[f"{name}_s"] = round(median, 3)
        out[f"{name}_over_cli_start_s"] = round(median - start_s, 3)
        log(f"{name}: {[round(w, 2) for w in walls]} s")
    with psycopg.connect(svc.url) as conn:
        walls = []
        for _ in range(runs):
            t = time.perf_counter()
            conn.execute(PER_DAY_QUERY).fetchall()
            walls.append(time.perf_counter() - t)
    out["per_day_query_sql_s"] = round(statistics.median(walls), 3)
    exports = [export(NEWSCLF, svc.env, job_id, svc.workdir / "export.csv") for _ in range(runs)]
    best = min(exports, key=lambda e: e["s"])
    out.update(export_rows=best["rows"], export_s=best["s"], export_rows_per_s=best["rows_per_s"])
    log(f"export: {[e['s'] for e in exports]} s for {best['rows']} rows")
    return out


def sizes(svc: Services) -> dict[str, int]:
    import psycopg

    with psycopg.connect(svc.url) as conn:
        return table_bytes(conn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--round", type=int, default=100_000, help="articles per round")
    parser.add_argument("--model", type=Path, help="artifact directory (default: train one)")
    parser.add_argument("--cli-runs", type=int, default=3, help="runs of each timed command")
    parser.add_argument("--json", action="store_true", help="print the JSON on one line")
    args = parser.parse_args()
    if args.articles < 1 or not 1 <= args.round <= args.articles:
        parser.error("need 1 <= --round <= --articles")

    with tempfile.TemporaryDirectory(prefix="newsclf-scale-") as tmp:
        workdir = Path(tmp)
        model = args.model or train_default(workdir)
        base = bbc_texts()
        svc = Services(model, workdir)
        result: dict[str, Any] = {"articles": args.articles, "round": args.round,
                                  "model": str(model), "database": svc.db}  # fmt: skip
        try:
            result.update(cli_start(NEWSCLF, svc.env, runs=args.cli_runs))
            before = sizes(svc)
            worker = svc.start([NEWSCLF, "worker", "-Q", "classify"], "worker")
            sampler = RssSampler(worker.pid)
            rounds = []
            try:
                svc.wait_ready("worker")
                for k, start in enumerate(range(0, args.articles, args.round)):
                    n = min(args.round, args.articles - start)
                    rounds.append(run_round(svc, short_texts(base, n, start=start), k))
                after = sizes(svc)
                last_full = [r for r in rounds if r["articles"] == args.round][-1]
                result.update(timed_reads(svc, args.cli_runs, last_full["job_id"],
                                          result["cli_start_s"]))  # fmt: skip
            finally:
                worker.terminate()
                worker.wait(60)
                result["worker_peak_rss_mb"] = sampler.stop()
        finally:
            svc.close()

    result["rounds_aps"] = [r["aps"] for r in rounds]
    result["rounds"] = rounds
    result["last_over_first"] = round(rounds[-1]["aps"] / rounds[0]["aps"], 3)
    grown = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    result["db_mb_per_million"] = round(sum(grown.values()) / args.articles * 1e6 / 2**20, 1)
    result["db_bytes_per_article"] = {
        t: round(b / args.articles, 1) for t, b in sorted(grown.items()) if b
    }
    result["db_mb_total"] = round(sum(after.values()) / 2**20, 1)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
