"""Shadow scoring on a real worker (PostgreSQL, Redis, ``newsclf worker``): the
shadow version labels every new article under its own version, the view shows
the active model's, ``--off`` stops it, and a shadow that cannot be loaded never
stops the active model's labeling."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from services import (
    bbc_rows,
    clone_artifact,
    last_json,
    run_cli,
    service_env,
    version_of,
    wait_until,
    write_feed,
)
from sqlalchemy import text

from newsclf.schema.db import make_engine

RELOAD_S = 0.5


class Service:
    def __init__(self, pg_url: str, redis_url: str, tmp: Path) -> None:
        self.tmp = tmp
        self.env = service_env(database_url=pg_url, broker_url=redis_url, models_dir=tmp / "m")
        self.engine = make_engine(pg_url)
        self.cli("db", "upgrade")

    def cli(self, *args: str) -> Any:
        done = run_cli(self.env, *args)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).all())

    def enqueue(self, rows: list[dict[str, str]], name: str) -> None:
        feed = write_feed(self.tmp / f"{name}.csv", [r["text"] for r in rows], prefix=name)
        self.cli("enqueue", str(feed), "--source", name, "--wait", "--timeout", "180")

    def counts(self, source: str) -> dict[str, int]:
        rows = self.sql(
            "SELECT p.model_version, count(*) FROM predictions p JOIN articles a"
            " ON a.id = p.article_id WHERE a.source = :s GROUP BY p.model_version",
            s=source,
        )
        return dict(rows)


@pytest.mark.slow
def test_a_shadow_labels_every_new_article_under_its_own_version_until_turned_off(
    pg_url: str, redis_url: str, tmp_path: Path, tiny_artifact: Path, bbc_csv: Path,
    start_worker: Any,
) -> None:
    s = Service(pg_url, redis_url, tmp_path)
    v1 = version_of(tiny_artifact)
    v2 = clone_artifact(tiny_artifact, tmp_path / "other", "v2-shadow").name
    s.cli("models", "register", str(tiny_artifact))
    s.cli("models", "register", str(tmp_path / "other" / v2), "--no-activate")
    assert last_json(s.cli("models", "shadow", v2, "--json").stdout)["shadow"] == v2
    rows = bbc_rows(120, start=0, distinct=True)
    worker = start_worker(s.env)

    s.enqueue(rows[:40], "shadowed")
    wait_until(lambda: s.counts("shadowed") == {v1: 40, v2: 40}, timeout=60, what="shadow rows")
    # The view, job progress and results show the active model only.
    assert s.sql("SELECT model_version, count(*) FROM article_labels GROUP BY model_version") == [
        (v1, 40)
    ]
    [job] = s.sql("SELECT id, labeled, status FROM jobs")
    assert job[1:] == (40, "done")
    exported = s.cli("results", "--job", str(job[0]), "--format", "jsonl").stdout.splitlines()
    assert len(exported) == 40 and all(f'"model_version": "{v1}"' in line for line in exported)
    # The same weights under two names: they agree on every article.
    figures = last_json(s.cli("models", "compare", v1, v2, "--json").stdout)
    assert (figures["articles"], figures["agreement"]) == (40, 1.0)

    s.cli("models", "shadow", "--off")
    time.sleep(3 * RELOAD_S)
    s.enqueue(rows[40:70], "unshadowed")
    time.sleep(1.0)
    assert s.counts("unshadowed") == {v1: 30}

    # A shadow whose blob is corrupted (and not on disk) is refused: v1 labels on.
    v3 = clone_artifact(tiny_artifact, tmp_path / "bad", "v3-broken").name
    s.cli("models", "register", str(tmp_path / "bad" / v3), "--no-activate")
    shutil.rmtree(tmp_path / "bad")
    with s.engine.begin() as conn:
        conn.execute(
            text("UPDATE model_blobs SET data = set_byte(data, 600, (get_byte(data, 600) + 1) % 256)"
                 " WHERE version = :v"),
            {"v": v3},
        )
    s.cli("models", "shadow", v3)
    time.sleep(3 * RELOAD_S)
    s.enqueue(rows[70:100], "refused")
    assert s.counts("refused") == {v1: 30}
    log = worker.log()
    assert f"shadow model loaded version={v2}" in log
    assert f"shadow model off version={v2}" in log
    assert f"shadow model refused version={v3}" in log
    assert worker.proc.poll() is None
