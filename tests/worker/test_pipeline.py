"""The labeling pipeline end to end: real PostgreSQL (or SQLite), real Redis,
a real ``newsclf worker`` subprocess, ``newsclf enqueue`` as a user runs it."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
from services import ROOT, last_json, run_cli, service_env, write_feed
from sqlalchemy import func, select, text

N_ARTICLES = 500


def write_bbc_feed(bbc_csv: Path, path: Path, n: int) -> list[str]:
    """A CSV feed (id, title, text) of the first ``n`` distinct BBC articles."""
    texts: list[str] = []
    seen: set[str] = set()
    with open(bbc_csv, newline="", encoding="utf-8") as src:
        for row in csv.DictReader(src):
            if row["text"] not in seen:
                seen.add(row["text"])
                texts.append(row["text"])
            if len(texts) == n:
                break
    write_feed(path, texts, prefix="bbc")
    return texts


def readme_queries() -> list[str]:
    """The SQL examples of README.md (```sql blocks), one statement each."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", readme, flags=re.S)
    lines = [ln for b in blocks for ln in b.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def test_a_feed_enqueued_to_a_real_worker_ends_labeled_in_sql_once(
    database_url: str,
    redis_url: str,
    tiny_artifact: Path,
    bbc_csv: Path,
    tmp_path: Path,
    start_worker,
) -> None:
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.schema.models import Job, Prediction
    from newsclf.trainer.predictor import Predictor

    env = service_env(
        database_url=database_url, broker_url=redis_url, models_dir=tmp_path / "models"
    )
    assert run_cli(env, "db", "upgrade").returncode == 0
    registered = run_cli(env, "models", "register", str(tiny_artifact), "--json")
    assert registered.returncode == 0, registered.stderr
    feed = tmp_path / "feed.csv"
    texts = write_bbc_feed(bbc_csv, feed, N_ARTICLES)
    start_worker(env)

    first = run_cli(
        env, "enqueue", str(feed), "--source", "bbc", "--wait", "--timeout", "240", "--json"
    )
    assert first.returncode == 0, first.stderr
    summary = last_json(first.stdout)
    assert (summary["total"], summary["new"], summary["duplicate"], summary["rejected"]) == (
        N_ARTICLES,
        N_ARTICLES,
        0,
        0,
    )
    assert (summary["status"], summary["labeled"], summary["failed"]) == ("done", N_ARTICLES, 0)

    sessions = session_factory(make_engine(database_url))
    with sessions() as session:
        rows = session.execute(select(Prediction).order_by(Prediction.article_id)).scalars().all()
        assert len(rows) == N_ARTICLES
        sums = np.array([sum(r.probabilities.values()) for r in rows])
        assert np.allclose(sums, 1.0, atol=1e-4)
        from newsclf.worker.normalize import clean_field  # stored texts are normalised

        # The model reads the stored (normalised) text: "caf&#233;" in the feed is "café".
        expected = Predictor.load(tiny_artifact).predict([clean_field(t) for t in texts])
        stored = {row.article_id: row for row in rows}
        ids = session.execute(text("select id, text from articles")).all()

        by_text = {t: stored[i] for i, t in ids}
        by_text |= {raw: by_text[clean_field(raw)] for raw in texts}
        assert [by_text[t].label for t in texts] == [p.label for p in expected]
        assert (
            max(
                abs(by_text[t].confidence - p.confidence)
                for t, p in zip(texts, expected, strict=True)
            )
            < 1e-4
        )
        job = session.get_one(Job, summary["job_id"])
        assert (job.status, job.labeled, job.failed) == ("done", N_ARTICLES, 0)

    again = run_cli(
        env, "enqueue", str(feed), "--source", "bbc", "--wait", "--timeout", "60", "--json"
    )
    assert again.returncode == 0, again.stderr
    repeat = last_json(again.stdout)
    assert (repeat["new"], repeat["duplicate"], repeat["published"], repeat["status"]) == (
        0,
        N_ARTICLES,
        0,
        "done",
    )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == N_ARTICLES
        queries = readme_queries()
        assert len(queries) >= 5
        for query in queries:  # the README's examples run against what the pipeline wrote
            session.execute(text(query)).all()
        if session.get_bind().dialect.name == "postgresql":  # the view's days: UTC's too
            session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        # The per-day counts the write path kept are what the view counts from every row
        per_day, every_row = (
            sorted((tuple(r) for r in session.execute(text(q))), key=repr)
            for q in (
                next(q for q in queries if "FROM label_counts" in q),
                next(q for q in queries if "GROUP BY date(ingested_at)" in q),
            )
        )
        assert per_day == every_row and sum(r[3] for r in per_day) == N_ARTICLES

    exported = run_cli(env, "results", "--job", str(summary["job_id"]), "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(x) for x in exported.stdout.splitlines()]
    assert len(lines) == N_ARTICLES and all(x["status"] == "labeled" for x in lines)
