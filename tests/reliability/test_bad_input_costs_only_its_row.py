"""Bad input through ``newsclf enqueue`` (a subprocess, real Redis and PostgreSQL):
each bad row is skipped with a clear reason in the job's report, the good rows
are stored and queued, nothing of a bad row is stored; a file with no good row
at all ends as one line on stderr and a non-zero exit, never a traceback.

No worker runs here: the model is registered in the database only (enqueue
needs an active version, not its weights).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from faults import Service
from servers import own_redis_db
from services import newsclf_cmd, service_env

MAX_CHARS = 300
LONG = "word " * 80  # 400 characters
GOOD_CSV = [
    "Shares rose sharply in early trading on Monday after strong results.",
    "The striker scored twice in the second half to win the cup.",
]


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[Service]:
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.registry import register_model_version

    upgrade(pg_url)
    engine = make_engine(pg_url)
    with session_factory(engine).begin() as session:
        register_model_version(
            session, version="v-bad-input", sha256="0" * 64, path="/nowhere",
            labels=["business", "sport"], metrics=None, config=None, accuracy=None,
            data_sha256=None,
        )  # fmt: skip
    engine.dispose()
    with own_redis_db() as redis_url:
        env = service_env(
            database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "models",
            max_text_chars=MAX_CHARS,
        )  # fmt: skip
        yield Service(pg_url, redis_url, env, tmp_path)


def enqueue(service: Service, *files: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        newsclf_cmd("enqueue", *map(str, files), "--json"),
        env={**service.env, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def job_report(service: Service, job_id: int) -> dict:
    result = service.cli("status", "--job", str(job_id), "--json")
    assert result.returncode == 0, result.stderr
    [job] = json.loads(result.stdout.strip().splitlines()[-1])["jobs"]
    return job


def stored_texts(service: Service, job_id: int | None = None) -> list[str]:
    query = "SELECT a.text FROM articles a"
    if job_id is not None:
        query += " JOIN job_articles ja ON ja.article_id = a.id WHERE ja.job_id = :job"
    return sorted(r.text for r in service.sql(query + " ORDER BY a.id", job=job_id))


def queued_ids(service: Service) -> list[int]:
    client = redis.Redis.from_url(service.redis_url)
    ids: list[int] = []
    for raw in client.lrange("classify", 0, -1):
        message = json.loads(raw)
        import base64

        body = json.loads(base64.b64decode(message["body"]))
        ids += body[1]["article_ids"]
    client.close()
    return sorted(ids)


def write_bad_csv(path: Path) -> Path:
    rows = [
        b"id,title,text,colour\n",
        b'g1,,"' + GOOD_CSV[0].encode() + b'",red\n',  # line 1 (the header is not counted)
        b"e1,,,blue\n",  # line 2: no title, no text
        b'w1,,"   \t  ",green\n',  # line 3
        b"l1,," + LONG.encode() + b",grey\n",  # line 4
        b"b1,Bytes,caf\xe9 cr\xe8me,white\n",  # line 5: Latin-1, not UTF-8
        b'q1,Quote,"an open quote never closed,black\n',  # line 6
        b'g2,,"' + GOOD_CSV[1].encode() + b'",pink\n',  # line 7
        b"x1,Short row\n",  # line 8: 2 fields of 4
    ]
    path.write_bytes(b"".join(rows))
    return path


def reasons(job: dict) -> dict[int, str]:
    return {int(r["line"]): r["reason"] for r in job["report"]["rejected"]}


@pytest.mark.slow
def test_a_csv_with_every_kind_of_bad_row_stores_the_good_rows_and_says_why_for_each_other(
    service: Service, tmp_path: Path
) -> None:
    feed = write_bad_csv(tmp_path / "bad.csv")
    result = enqueue(service, feed)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    job = job_report(service, summary["job_id"])
    why = reasons(job)
    print(
        f"\nFAULT bad CSV (truncate): summary {summary}; reasons {why}; notes {job['report']['notes']}"
    )
    assert (summary["total"], summary["new"], summary["rejected"]) == (8, 3, 5)
    assert "empty text" in why[2] and "empty text" in why[3]
    assert "not UTF-8" in why[5]
    assert "quot" in why[6]
    assert "expected 4 fields, found 2" in why[8]
    notes = " | ".join(job["report"]["notes"])
    assert "ignored unknown columns: colour" in notes
    assert f"line 4: text truncated from {len(LONG.strip())} to {MAX_CHARS} characters" in notes
    # Nothing of a bad row is stored; every good row is stored and queued once.
    texts = stored_texts(service, summary["job_id"])
    assert texts == sorted([*GOOD_CSV, LONG.strip()[:MAX_CHARS]])
    assert len(queued_ids(service)) == 3 == summary["published"]


@pytest.mark.slow
def test_an_over_long_text_is_rejected_with_its_length_when_long_text_is_reject(
    service: Service, tmp_path: Path
) -> None:
    feed = write_bad_csv(tmp_path / "bad.csv")
    result = enqueue(service, feed, NEWSCLF_LONG_TEXT="reject")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    why = reasons(job_report(service, summary["job_id"]))
    print(f"\nFAULT bad CSV (reject): line 4 -> {why[4]!r}")
    assert why[4] == f"text too long ({len(LONG.strip())} characters; limit {MAX_CHARS})"
    assert (summary["new"], summary["rejected"]) == (2, 6)
    assert stored_texts(service) == sorted(GOOD_CSV)


@pytest.mark.slow
def test_jsonl_lines_that_are_not_objects_are_rejected_one_by_one(
    service: Service, tmp_path: Path
) -> None:
    feed = tmp_path / "bad.jsonl"
    feed.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "id": "j1",
                        "text": "Parliament passed the budget late on Tuesday.",
                        "sentiment": "calm",
                    }
                ),
                "[1, 2, 3]",
                '"just a string"',
                "42",
                "null",
                "{not json",
                json.dumps({"title": "a title and no text"}),
                json.dumps({"id": "j2", "text": 12345}),
                json.dumps({"id": "j3", "text": "The band announced a world tour for May."}),
            ]
        )  # fmt: skip
        + "\n",
        encoding="utf-8",
    )
    result = enqueue(service, feed)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    job = job_report(service, summary["job_id"])
    why = reasons(job)
    print(f"\nFAULT bad JSONL: summary {summary}; reasons {why}; notes {job['report']['notes']}")
    assert (summary["new"], summary["rejected"]) == (3, 6)
    assert "not a JSON object (found list)" in why[2] and "(found str)" in why[3]
    assert "(found int)" in why[4] and "(found NoneType)" in why[5]
    assert "not valid JSON" in why[6]
    assert 7 not in why and "not a string" in why[8]  # a title alone is an article
    assert any("ignored unknown fields: sentiment" in n for n in job["report"]["notes"])
    assert len(stored_texts(service)) == 3


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and all(w in lines[0] for w in words), lines[0]
    return lines[0]


@pytest.mark.slow
def test_files_without_a_single_good_row_end_in_one_line_and_a_non_zero_exit(
    service: Service, tmp_path: Path
) -> None:
    not_xml = tmp_path / "feed.rss"
    not_xml.write_text("this is not XML { at all\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("id,title\n1,hello\n", encoding="utf-8")
    all_bad = tmp_path / "all_bad.csv"
    all_bad.write_bytes(b"id,text\n1,\n2,   \n3,caf\xe9\n")
    seen = {}
    for name, path, words in [
        ("RSS that is not XML", not_xml, ("not an RSS/Atom feed",)),
        ("missing file", tmp_path / "nowhere.csv", ("no such file",)),
        ("empty file", empty, ("empty",)),
        ("no text column", no_text, ("no text column",)),
        ("no good row", all_bad, ("no good row", "3 rejected")),
    ]:
        seen[name] = assert_one_line_error(enqueue(service, path), *words)
    print("\nFAULT unusable files: " + "; ".join(f"{k} -> {v!r}" for k, v in seen.items()))
    assert stored_texts(service) == []
    assert queued_ids(service) == []
    open_jobs = service.sql("SELECT id, status FROM jobs WHERE status <> 'done'")
    assert open_jobs == []


@pytest.mark.slow
def test_a_feed_with_no_rows_at_all_is_one_line_exit_2_and_leaves_no_job(
    service: Service, tmp_path: Path
) -> None:
    header_only = tmp_path / "header_only.csv"
    header_only.write_text("id,title,text\n", encoding="utf-8")
    no_items = tmp_path / "no_items.rss"
    no_items.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title>'
        "<link>https://example.com/</link><description>nothing today</description>"
        "</channel></rss>",
        encoding="utf-8",
    )
    blank_lines = tmp_path / "blank_lines.jsonl"  # past the first 4 KiB: not "empty" at once
    blank_lines.write_text("\n" * 5000, encoding="utf-8")
    seen = {}
    for path in (header_only, no_items, blank_lines):
        result = enqueue(service, path)
        seen[path.name] = assert_one_line_error(result, "no rows in", path.name)
        assert result.returncode == 2 and result.stdout == ""
    print("\nFAULT feeds without rows: " + "; ".join(f"{k} -> {v!r}" for k, v in seen.items()))
    assert service.sql("SELECT id FROM jobs") == []
    assert stored_texts(service) == [] and queued_ids(service) == []
