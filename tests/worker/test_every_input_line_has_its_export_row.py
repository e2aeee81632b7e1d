"""``newsclf results`` has one row per input line: a repeat within the feed is its
own row (marked with the line it repeats), a rejected line too (with its reason),
on PostgreSQL and SQLite, across chunks of the enqueue."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner


class Publisher:
    def publish(self, ids: Any) -> None:
        pass


def test_a_repeat_and_a_rejected_line_each_have_their_row(
    database_url: str, tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.registry import register_artifact
    from newsclf.settings import Settings
    from newsclf.trainer.blobs import artifact_record
    from newsclf.worker import enqueue
    from newsclf.worker.results import job_results

    upgrade(database_url)
    sessions = session_factory(make_engine(database_url))
    with sessions.begin() as session:
        register_artifact(session, artifact_record(tiny_artifact))
    monkeypatch.setattr(enqueue, "FIRST_CHUNK", 4)  # the repeats fall in later chunks too
    n = 300
    texts = [f"story {i} about shares and markets" for i in range(n)]
    texts[10] = texts[3]  # a repeat in the first chunk
    texts[250] = texts[3]  # a repeat many chunks later
    texts[120] = "   "  # a rejected line
    feed = tmp_path / "feed.csv"
    with open(feed, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        writer.writerows([f"r{i}", t] for i, t in enumerate(texts))

    report = enqueue.enqueue_feeds(
        [str(feed)], sessions=sessions, publisher=Publisher(), settings=Settings()
    )
    assert (report.total, report.new, report.duplicate, report.rejected) == (n, n - 3, 2, 1)
    with sessions() as session:
        rows = list(job_results(session, job_id=report.job_id))
    assert [r["line"] for r in rows] == list(range(1, n + 1))
    by_line = {r["line"]: r for r in rows}
    first = by_line[4]
    for line in (11, 251):
        assert by_line[line]["repeat_of_line"] == 4
        assert by_line[line]["article_id"] == first["article_id"]
        assert by_line[line]["status"] == first["status"] == "pending"
    assert by_line[121]["status"] == "rejected" and by_line[121]["rejected_reason"] == "empty text"
    assert by_line[121]["article_id"] is None
    assert [r["line"] for r in rows if r["repeat_of_line"] or r["rejected_reason"]] == [
        11,
        121,
        251,
    ]

    # The CLI export has the same rows, in CSV and JSONL.
    from newsclf.cli.results import results

    monkeypatch.setenv("NEWSCLF_DATABASE_URL", database_url)
    from newsclf.settings import get_settings

    get_settings.cache_clear()
    for fmt in ("csv", "jsonl"):
        out = CliRunner().invoke(results, ["--job", str(report.job_id), "--format", fmt])
        assert out.exit_code == 0, out.output
        if fmt == "csv":
            exported = list(csv.DictReader(io.StringIO(out.output)))
        else:
            exported = [json.loads(line) for line in out.output.splitlines()]
        assert len(exported) == n
        assert str(exported[120]["rejected_reason"]) == "empty text"
        assert str(exported[250]["repeat_of_line"]) == "4"
    get_settings.cache_clear()
