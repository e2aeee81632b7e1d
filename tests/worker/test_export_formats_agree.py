"""``newsclf results`` writes the same rows whichever way it formats them: on
PostgreSQL the server formats them (``COPY``), on SQLite Python does; both must
carry exactly what ``job_results`` reads, hostile strings included."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

HOSTILE = [
    'quote " : colon',
    'escaped \\" : already',
    "back\\slash and \\\\ two, a trailing one\\",
    "new\nline, tab\t, CR\r and comma,",
    "non-ASCII: café, Ωμέγα, 漢字, emoji 📰",
    '{"line" : 1, "title" : "x"}',
]


class Publisher:
    def publish(self, ids: Any) -> None:
        pass


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def test_csv_and_jsonl_carry_what_job_results_reads(
    database_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.job_lines import RESULT_FIELDS
    from newsclf.schema.predictions import insert_predictions
    from newsclf.schema.registry import register_artifact
    from newsclf.settings import Settings
    from newsclf.trainer.blobs import artifact_record
    from newsclf.worker.enqueue import enqueue_feeds
    from newsclf.worker.results import job_results, write_results

    upgrade(database_url)
    sessions = session_factory(make_engine(database_url))
    with sessions.begin() as session:
        registered = register_artifact(session, artifact_record(tiny_artifact))
        version, labels = registered.version, list(registered.labels)
    feed = tmp_path / "feed.jsonl"
    with feed.open("w", encoding="utf-8") as f:
        for i, title in enumerate(HOSTILE):
            published = f"2026-11-30T10:00:0{i}.{i * 125000:06d}+00:00" if i % 2 else None
            row = {
                "id": f"x{i}",
                "title": title,
                "text": f"{title} story {i}",
                "published": published,
            }
            f.write(json.dumps(row) + "\n")
        f.write(json.dumps({"id": "empty", "text": "   "}) + "\n")  # a rejected line
    report = enqueue_feeds(
        [str(feed)], sessions=sessions, publisher=Publisher(), settings=Settings()
    )
    with sessions() as session:
        ids = [r["article_id"] for r in job_results(session, job_id=report.job_id)]
    labeled = [i for i in ids if i is not None][:-1]  # the last one stays pending
    with sessions.begin() as session:
        insert_predictions(
            session,
            [
                {
                    "article_id": a,
                    "model_version": version,
                    "label": labels[0],
                    "confidence": 0.1 + k / 7,
                    "probabilities": {
                        label: round(1e-5 + j / 3 + k / 70, 7) for j, label in enumerate(labels)
                    },
                    "batch_id": "b",
                }
                for k, a in enumerate(labeled)
            ],
        )

    with sessions() as session:
        expected = list(job_results(session, job_id=report.job_id))
        outputs = {}
        for fmt in ("csv", "jsonl"):
            out = io.StringIO()
            write_results(session, job_id=report.job_id, fmt=fmt, output=out)
            outputs[fmt] = out.getvalue()
    assert [r["status"] for r in expected].count("labeled") == len(labeled)
    assert {r["status"] for r in expected} == {"labeled", "pending", "rejected"}

    exported = [json.loads(line) for line in outputs["jsonl"].splitlines()]
    assert all(list(row) == list(RESULT_FIELDS) for row in exported)  # in the documented order
    for row in [*expected, *exported]:
        row["published_at"] = _parse_time(row["published_at"])
    assert exported == expected
    for line in outputs["jsonl"].splitlines():  # spaced as json.dumps spaces them
        assert line.startswith('{"line": ') and '"probabilities": ' in line

    table = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert list(table[0]) == [*list(expected[0])[:-1], *(f"p_{label}" for label in labels)]
    for got, want in zip(table, expected, strict=True):
        probabilities = want.pop("probabilities") or {}
        want |= {f"p_{label}": probabilities.get(label) for label in labels}
        got["published_at"] = _parse_time(got["published_at"])
        assert got == {
            k: v if k == "published_at" else ("" if v is None else str(v)) for k, v in want.items()
        }


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_unknown_job_is_one_clear_error(database_url: str, fmt: str) -> None:
    from newsclf.errors import InputError
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.worker.results import write_results

    upgrade(database_url)
    sessions = session_factory(make_engine(database_url))
    with sessions() as session, pytest.raises(InputError, match="no job 12345"):
        write_results(session, job_id=12345, fmt=fmt, output=io.StringIO())
