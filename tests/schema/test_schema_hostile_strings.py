"""Hostile strings in every text field are data, never SQL: they round-trip unchanged."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.articles import upsert_articles
from newsclf.schema.jobs import create_job
from newsclf.schema.models import SOURCE_MAX_CHARS, Article, Job, ModelVersion, Prediction
from newsclf.schema.predictions import insert_predictions

HOSTILE = [
    "'; DROP TABLE articles; --",
    "Robert'); DROP TABLE predictions;--",
    '" OR 1=1 --',
    "%s %(name)s %% ? $1 :name :1",
    "back\\slash \\' \\\" \\x00",
    "emoji 📰🔥, RTL \u202eevil\u202c, combining e\u0301, zero\u200bwidth, line\u2028sep",
    "控制 текст العربية",
    "tab\tnew\nline\r\nreturn",
    "x" * 1_000_000,
]
FIELDS = ("external_id", "url", "title", "text", "source")


def test_hostile_strings_in_every_article_field_round_trip(
    sessions: sessionmaker[Session],
) -> None:
    rows = [
        {field: f"{i}:{value}" for field in FIELDS}
        | {"source": f"{i}:{value}"[:SOURCE_MAX_CHARS], "published_at": None}
        for i, value in enumerate(HOSTILE)
    ]
    with sessions.begin() as session:
        ids = [aid for aid, new in upsert_articles(session, rows)]
    with sessions.begin() as session:
        for aid, row in zip(ids, rows, strict=True):
            article = session.get_one(Article, aid)
            for field in FIELDS:
                assert getattr(article, field) == row[field], (field, row[field][:40])
        found = session.scalars(select(Article.id).where(Article.title == rows[0]["title"]))
        assert list(found) == [ids[0]]


def test_a_source_longer_than_the_indexed_limit_is_refused_not_cut(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session, pytest.raises(ValueError, match="source longer"):
        upsert_articles(session, [{"text": "t", "source": "s" * (SOURCE_MAX_CHARS + 1)}])


def test_hostile_strings_in_jobs_models_and_predictions_round_trip(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    labels = [f"label {value[:30]}" for value in HOSTILE]
    probabilities = {label: 1 / len(labels) for label in labels}
    with sessions.begin() as session:
        model = add_model(session, HOSTILE[0], labels)
        model.metrics = {value[:50]: value[:50] for value in HOSTILE}
        job_id = create_job(session, source=HOSTILE[1], model_version=HOSTILE[0]).id
        [(aid, _)] = upsert_articles(session, [{"text": HOSTILE[2]}])
        row = prediction(aid, HOSTILE[0], probabilities) | {"batch_id": HOSTILE[3]}
        assert insert_predictions(session, [row]) == 1
    with sessions.begin() as session:
        model = session.get_one(ModelVersion, HOSTILE[0])
        assert model.labels == labels
        assert model.metrics == {value[:50]: value[:50] for value in HOSTILE}
        assert session.get_one(Job, job_id).source == HOSTILE[1]
        stored = session.scalars(select(Prediction)).one()
        assert (stored.model_version, stored.batch_id) == (HOSTILE[0], HOSTILE[3])
        assert stored.probabilities == pytest.approx(probabilities)
        for table in (Article, Job, ModelVersion, Prediction):
            assert session.scalar(select(func.count()).select_from(table)) == 1


def test_timezone_aware_publish_times_round_trip_as_the_same_instant(
    sessions: sessionmaker[Session],
) -> None:
    when = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with sessions.begin() as session:
        [(aid, _)] = upsert_articles(session, [{"text": "t", "published_at": when}])
    with sessions.begin() as session:
        stored = session.get_one(Article, aid).published_at
        if stored.tzinfo is None:  # SQLite keeps no zone: the value is as given, naive
            assert stored == when.replace(tzinfo=None)
        else:
            assert stored == when
