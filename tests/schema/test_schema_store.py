"""Bulk writes are idempotent, and job progress is counted from the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import BigInteger, DateTime, Float, Text, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeEngine

from newsclf.schema import articles as articles_module
from newsclf.schema import jobs as jobs_module
from newsclf.schema.articles import content_sha256, upsert_articles
from newsclf.schema.db import make_engine
from newsclf.schema.job_lines import add_job_articles
from newsclf.schema.jobs import (
    create_job,
    finish_jobs_if_done,
    job_progress,
    make_job_report,
)
from newsclf.schema.models import Article, Job, JobArticle, ModelVersion, Prediction
from newsclf.schema.predictions import insert_predictions
from newsclf.schema.registry import activate_model_version, active_model_version

PROBS = {"business": 0.7, "sport": 0.2, "tech": 0.1}


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_upserting_the_same_articles_twice_stores_them_once(
    sessions: sessionmaker[Session],
) -> None:
    rows = [{"text": f"article number {i}", "source": "feed"} for i in range(5)]
    with sessions.begin() as session:
        first = upsert_articles(session, rows)
    with sessions.begin() as session:
        second = upsert_articles(session, rows)
        assert _count(session, Article) == 5
    assert [new for _, new in first] == [True] * 5
    assert [new for _, new in second] == [False] * 5
    assert [aid for aid, _ in first] == [aid for aid, _ in second]
    assert len({aid for aid, _ in first}) == 5


def test_a_repeat_within_one_call_is_a_duplicate_of_its_first_occurrence(
    sessions: sessionmaker[Session],
) -> None:
    rows = [{"text": "same story"}, {"text": "other"}, {"text": "  same\n\tstory "}]
    with sessions.begin() as session:
        result = upsert_articles(session, rows)
        assert _count(session, Article) == 2
    assert result[0][0] == result[2][0] != result[1][0]
    assert [new for _, new in result] == [True, True, False]


def test_duplicates_across_chunks_and_calls_keep_input_order(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(articles_module, "ARTICLE_CHUNK", 7)
    with sessions.begin() as session:
        upsert_articles(session, [{"text": "t3"}, {"text": "t10"}])
    rows = [{"text": f"t{i % 20}"} for i in range(45)]
    with sessions.begin() as session:
        result = upsert_articles(session, rows)
        ids = dict(session.execute(select(Article.text, Article.id)).all())
    assert [aid for aid, _ in result] == [ids[row["text"]] for row in rows]
    new = [rows[i]["text"] for i, (_, is_new) in enumerate(result) if is_new]
    assert sorted(new) == sorted(f"t{i}" for i in range(20) if i not in (3, 10))


def test_the_content_hash_ignores_layout_but_not_words() -> None:
    assert content_sha256("a  b\n c ") == content_sha256("a b c")
    assert content_sha256("a b c") != content_sha256("a b d")
    assert len(content_sha256("x")) == 64


def test_unknown_article_columns_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session, pytest.raises(ValueError, match="unknown columns"):
        upsert_articles(session, [{"text": "x", "category": "tech"}])


def test_a_redelivered_prediction_batch_inserts_nothing(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    with sessions.begin() as session:
        add_model(session, "v1")
        ids = [aid for aid, _ in upsert_articles(session, [{"text": f"a{i}"} for i in range(4)])]
    batch = [prediction(aid, "v1", PROBS) for aid in ids[:3]]
    with sessions.begin() as session:
        assert insert_predictions(session, batch) == 3
    with sessions.begin() as session:
        assert insert_predictions(session, batch) == 0
        assert insert_predictions(session, batch + [prediction(ids[3], "v1", PROBS)]) == 1
        assert insert_predictions(session, []) == 0
        assert _count(session, Prediction) == 4
        stored = session.scalars(select(Prediction).where(Prediction.article_id == ids[0])).one()
        assert stored.probabilities == PROBS and stored.label == "business"


def test_a_batch_holding_the_same_prediction_twice_stores_it_once(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    with sessions.begin() as session:
        add_model(session, "v1")
        [(aid, _)] = upsert_articles(session, [{"text": "x"}])
        assert insert_predictions(session, [prediction(aid, "v1", PROBS)] * 2) == 1


def test_a_prediction_for_an_unknown_model_version_is_refused(
    sessions: sessionmaker[Session], prediction
) -> None:
    with sessions.begin() as session:
        [(aid, _)] = upsert_articles(session, [{"text": "x"}])
    with pytest.raises(IntegrityError), sessions.begin() as session:
        insert_predictions(session, [prediction(aid, "nope", PROBS)])


def test_job_progress_counts_labeled_failed_and_pending_and_finish_waits_for_all(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    with sessions.begin() as session:
        add_model(session, "v1")
        ids = [aid for aid, _ in upsert_articles(session, [{"text": f"a{i}"} for i in range(3)])]
        job = create_job(session, source="feed.csv", model_version="v1")
        job_id = job.id
        add_job_articles(session, job_id, [(aid, line) for line, aid in enumerate(ids, 2)])
        insert_predictions(session, [prediction(ids[0], "v1", PROBS)])
        session.execute(update(Article).where(Article.id == ids[1]).values(failed_reason="poison"))
    with sessions.begin() as session:
        p = job_progress(session, [job_id])[job_id]
        assert (p.total, p.labeled, p.failed, p.pending) == (3, 1, 1, 1)
        assert finish_jobs_if_done(session, [job_id]) == []
        assert session.get_one(Job, job_id).status == "queued"
    with sessions.begin() as session:
        insert_predictions(session, [prediction(ids[2], "v1", PROBS)])
        assert finish_jobs_if_done(session, [job_id]) == [job_id]
        assert finish_jobs_if_done(session, [job_id]) == []  # finished once
    with sessions.begin() as session:
        job = session.get_one(Job, job_id)
        assert (job.status, job.labeled, job.failed) == ("done", 2, 1)
        assert job.finished_at is not None


def test_a_job_with_no_articles_finishes_at_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        job_id = create_job(session, source="empty.csv").id
        assert job_progress(session, [job_id])[job_id].pending == 0
        assert finish_jobs_if_done(session, [job_id]) == [job_id]


def test_adding_job_articles_twice_keeps_the_first_line(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        [(aid, _)] = upsert_articles(session, [{"text": "x"}])
        job_id = create_job(session, source="s").id
        assert add_job_articles(session, job_id, [(aid, 2), (aid, 9)]) == {aid}
        assert add_job_articles(session, job_id, [(aid, 5)]) == set()  # already in the job
        assert job_progress(session, [job_id])[job_id].total == 1
        assert session.execute(select(JobArticle.line)).scalar() == 2


def test_registering_a_model_makes_it_the_only_active_one(
    sessions: sessionmaker[Session], add_model
) -> None:
    with sessions.begin() as session:
        assert active_model_version(session) is None
        add_model(session, "v1")
        add_model(session, "v2")
        add_model(session, "v3", activate=False)
    with sessions.begin() as session:
        assert active_model_version(session).version == "v2"
        activate_model_version(session, "v1")
    with sessions.begin() as session:
        active = session.scalars(select(ModelVersion.version).where(ModelVersion.is_active))
        assert list(active) == ["v1"]
        assert session.get_one(ModelVersion, "v3").labels == ["business", "sport", "tech"]


def test_the_database_refuses_two_active_models(sessions: sessionmaker[Session], add_model) -> None:
    with sessions.begin() as session:
        add_model(session, "v1")
        add_model(session, "v2", activate=False)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.execute(update(ModelVersion).values(is_active=True))


def test_a_job_report_keeps_at_most_the_cap_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs_module, "REPORT_MAX_ENTRIES", 3)
    rejected = [{"line": i, "reason": "empty text"} for i in range(5)]
    report = make_job_report(rejected, ["ignored unknown columns: x"])
    assert len(report["rejected"]) == 3 and report["rejected_omitted"] == 2
    assert report["notes"] == ["ignored unknown columns: x"] and report["notes_omitted"] == 0


@pytest.mark.parametrize(
    ("values", "type_"),
    [
        ([], BigInteger()),
        ([None, None], Text()),
        ([None, "", 'q"u\\o{te},', "é ✓ \u202e", "x" * 100_000], Text()),
        ([1, -(2**40), None], BigInteger()),
        ([0.1, 1e-300, -0.0], Float()),
        ([dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), None], DateTime(timezone=True)),
    ],
    ids=["empty", "nulls", "strings", "ints", "floats", "times"],
)
def test_lists_go_to_postgresql_as_binary_arrays_and_come_back_whole(
    pg_url: str, values: list[object], type_: TypeEngine[Any]
) -> None:
    from psycopg.adapt import PyFormat
    from psycopg.types.array import ListBinaryDumper

    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            adapters = conn.connection.dbapi_connection.adapters  # type: ignore[union-attr]
            assert adapters.get_dumper(list, PyFormat.AUTO) is ListBinaryDumper
            param = bindparam("values", values, type_=ARRAY(type_))
            assert conn.execute(select(func.unnest(param))).scalars().all() == values
    finally:
        engine.dispose()
