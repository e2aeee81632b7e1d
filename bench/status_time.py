"""How long ``newsclf status --json`` takes as the tables grow. Prints JSON.

    python bench/status_time.py [--articles 10000 1000000] [--open 1000] [--repeat 3]

For each size: a fresh PostgreSQL database (NEWSCLF_BENCH_PG, default
postgresql://postgres@127.0.0.1:5432) filled with SQL alone (``fill``: one done
job holding most articles, each labeled, and one running job of ``--open``
articles, half of them labeled), then ``newsclf status --json`` run as a user
runs it (a process of its own, against Redis at NEWSCLF_BENCH_REDIS, default
redis://127.0.0.1:6379/12), best and every wall time of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FILL = [
    """INSERT INTO model_versions (version, sha256, path, labels, accuracy, is_active)
       VALUES ('bench-v1', repeat('0', 64), '/nowhere', '["business", "sport"]', 0.98122, true)""",
    """INSERT INTO articles (id, text, source, content_sha256)
       SELECT g, 'article number ' || g, 'bench', md5(g::text) || md5('x' || g)
       FROM generate_series(1, :articles) g""",
    "INSERT INTO deliveries (article_id, attempts) SELECT g, 1 FROM generate_series(1, :articles) g",
    "SELECT setval(pg_get_serial_sequence('articles', 'id'), :articles)",
    """INSERT INTO jobs (id, source, status, total, new, labeled, model_version, finished_at)
       VALUES (1, 'bench-done', 'done', :done, :done, :done, 'bench-v1', now()),
              (2, 'bench-open', 'running', :open, :open, 0, 'bench-v1', NULL)""",
    "SELECT setval(pg_get_serial_sequence('jobs', 'id'), 2)",
    """INSERT INTO job_articles (job_id, article_id, line)
       SELECT CASE WHEN g <= :done THEN 1 ELSE 2 END, g, g FROM generate_series(1, :articles) g""",
    """INSERT INTO predictions (article_id, model_version, label, confidence, probabilities,
                                batch_id)
       SELECT g, 'bench-v1', CASE WHEN g % 2 = 0 THEN 'sport' ELSE 'business' END, 0.9,
              '{"business": 0.9, "sport": 0.1}', 'bench'
       FROM generate_series(1, :done + :open / 2) g""",
    "ANALYZE",
]
"""Statements that fill an empty newsclf database (``:articles``, ``:done``, ``:open``)."""


def fill(url: str, *, articles: int, open_articles: int) -> None:
    """``articles`` articles: ``articles - open_articles`` in a done job, all labeled, and
    ``open_articles`` in a running job, half of them labeled."""
    from sqlalchemy import text

    from newsclf.schema.db import make_engine

    engine = make_engine(url)
    params = {"articles": articles, "done": articles - open_articles, "open": open_articles}
    with engine.begin() as conn:
        for statement in FILL[:-1]:
            conn.execute(text(statement), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(FILL[-1]))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import psycopg

    from newsclf.schema.db import upgrade

    server = os.environ.get("NEWSCLF_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    redis = os.environ.get("NEWSCLF_BENCH_REDIS", "redis://127.0.0.1:6379/12")
    newsclf = str(Path(sys.executable).parent / "newsclf")
    results = []
    for n in args.articles:
        name = f"newsclf_bench_status_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{server}/{name}"
            upgrade(url)
            started = time.perf_counter()
            fill(url, articles=n, open_articles=min(args.open, n))
            filled = time.perf_counter() - started
            env = {**os.environ, "NEWSCLF_DATABASE_URL": url, "NEWSCLF_BROKER_URL": redis}
            walls = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                subprocess.run([newsclf, "status", "--json"], env=env, check=True,
                               capture_output=True)  # fmt: skip
                walls.append(round(time.perf_counter() - t, 3))
            t = time.perf_counter()
            subprocess.run([newsclf, "--help"], env=env, check=True, capture_output=True)
            results.append({
                "articles": n, "open_job_articles": min(args.open, n), "fill_s": round(filled, 1),
                "status_s_best": min(walls), "status_s_runs": walls,
                "cli_start_s": round(time.perf_counter() - t, 3),
            })  # fmt: skip
        finally:
            with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps({"status_time": results}, indent=2))


if __name__ == "__main__":
    main()
