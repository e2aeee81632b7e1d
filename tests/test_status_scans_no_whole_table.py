"""``newsclf status --json`` stays fast as the tables grow: on 200,000 articles, every
statement it sends to PostgreSQL is planned without a sequential scan of ``articles``
or ``predictions`` (the plans are checked, not a time)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from services import ROOT

ARTICLES = 200_000
OPEN = 1000


def bench_fill() -> object:
    """``bench/status_time.py``'s filler: the rows come from SQL, not the pipeline."""
    spec = importlib.util.spec_from_file_location("status_time", ROOT / "bench" / "status_time.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill


@pytest.mark.slow
def test_status_json_plans_no_sequential_scan_of_articles_or_predictions(
    pg_url: str, redis_url: str, newsclf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import psycopg
    from sqlalchemy import Engine, event

    from newsclf.cli import main
    from newsclf.schema.db import upgrade
    from newsclf.settings import get_settings

    upgrade(pg_url)
    bench_fill()(pg_url, articles=ARTICLES, open_articles=OPEN)
    monkeypatch.setenv("NEWSCLF_DATABASE_URL", pg_url)
    monkeypatch.setenv("NEWSCLF_BROKER_URL", redis_url)
    get_settings.cache_clear()

    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        sent.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        main(["status", "--json"])
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    snapshot = json.loads(capsys.readouterr().out)
    by_id = {j["job_id"]: j for j in snapshot["jobs"]}
    assert by_id[1]["labeled"] == ARTICLES - OPEN and by_id[1]["pending"] == 0
    assert by_id[2]["labeled"] == OPEN // 2 and by_id[2]["pending"] == OPEN // 2

    selects = [(s, p) for s, p in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert selects, "status ran no query"
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        for statement, parameters in selects:
            plan = "\n".join(
                row[0] for row in conn.execute("EXPLAIN " + statement, parameters or None)
            )
            for table in ("articles", "predictions"):
                assert f"Seq Scan on {table}" not in plan, f"{statement}\n{plan}"
