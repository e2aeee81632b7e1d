"""Hostile strings in every text field of a feed, through ``newsclf enqueue`` and a
real worker: stored byte for byte (NUL removed by the reader, with a note),
labeled, exported unchanged, and every table still there. SQL only ever gets
them as bound parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults import assert_alive, bbc_texts, make_service
from servers import own_redis_db

HOSTILE = [
    "'; DROP TABLE articles; --",
    "Robert'); DELETE FROM predictions WHERE ('1'='1",
    '" OR "1"="1',
    "%s %d %(text)s %% %",
    "{} {0} {text} {{}} ${HOME} $(id) `id`",
    "back\\slash \\' \\\" \\x00 \\n \\\\",
    "unicode: é ü ß 中文 ✓ 🙂 \u202eRTL\u202c zero\u200bwidth e\u0301",
    "NUL\x00inside",
    "$1 $$quoted$$ :name ? @p0",
    "<script>alert('x')</script> &amp; ]]> <!--",
    "line\nbreak\r\nand\ttab",
]
TABLES = {"articles", "jobs", "job_articles", "predictions", "model_versions"}


@pytest.mark.slow
def test_hostile_strings_in_every_field_are_stored_unchanged_labeled_and_the_tables_intact(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    body = bbc_texts(bbc_csv, len(HOSTILE))
    rows = [
        {"id": h, "title": h, "url": h, "text": f"{h} {text}", "published": h}
        for h, text in zip(HOSTILE, body, strict=True)
    ]
    feed = tmp_path / "hostile.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    source = HOSTILE[0] + " " + HOSTILE[3]
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        worker = start_worker(service.env)
        job = service.enqueue(feed, "--source", source)
        done = service.wait_done(job, alive=lambda: assert_alive(worker))
        assert (done["status"], done["labeled"], done["failed"]) == ("done", len(HOSTILE), 0)

        stored = service.sql(
            "SELECT external_id, title, url, text, source, published_at FROM articles ORDER BY id"
        )
        expected = [
            (h.replace("\x00", ""), t) for h, t in zip(HOSTILE, body, strict=True)
        ]  # fmt: skip
        # Title and text go through the one normalisation of every format (entities,
        # whitespace: worker.normalize); nothing else is escaped or altered.
        from newsclf.worker.normalize import clean_field

        assert [(r.external_id, r.title, r.url) for r in stored] == [
            (h.strip(), clean_field(h), h.strip()) for h, _ in expected
        ]
        assert [r.text for r in stored] == [clean_field(f"{h} {t}") for h, t in expected]
        assert {r.source for r in stored} == {source}
        assert all(r.published_at is None for r in stored)  # unreadable dates: noted, dropped

        exported = service.cli("results", "--job", str(job), "--format", "jsonl")
        assert exported.returncode == 0, exported.stderr
        lines = [json.loads(x) for x in exported.stdout.splitlines()]
        assert sorted(x["title"] for x in lines) == sorted(clean_field(h) for h, _ in expected)
        assert all(x["status"] == "labeled" for x in lines)

        status = json.loads(service.cli("status", "--job", str(job), "--json").stdout)
        notes = status["jobs"][0]["report"]["notes"]
        tables = {
            r.table_name
            for r in service.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        print(
            f"\nFAULT hostile strings: {len(HOSTILE)} rows stored unchanged and labeled; "
            f"notes {notes[:3]}; tables {sorted(tables & TABLES)}"
        )
        assert TABLES <= tables
        assert any("NUL characters removed" in n for n in notes)
        assert service.sql("SELECT count(*) AS n FROM article_labels")[0].n == len(HOSTILE)
