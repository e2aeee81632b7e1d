"""The article_labels view: one p_ column per class of the active model."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.articles import upsert_articles
from newsclf.schema.predictions import insert_predictions
from newsclf.schema.registry import activate_model_version
from newsclf.schema.views import probability_columns

BASE_COLUMNS = [
    "id", "external_id", "url", "title", "source", "published_at", "ingested_at",
    "model_version", "label", "confidence",
]  # fmt: skip


def _view_columns(session: Session) -> list[str]:
    return [c["name"] for c in inspect(session.connection()).get_columns("article_labels")]


def _rows(session: Session) -> list[dict]:
    result = session.execute(text("SELECT * FROM article_labels ORDER BY id"))
    return [dict(row._mapping) for row in result]


def test_before_any_model_the_view_lists_articles_without_labels(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        upsert_articles(session, [{"text": "a", "title": "A"}])
        assert _view_columns(session) == BASE_COLUMNS
        [row] = _rows(session)
        assert row["title"] == "A" and row["label"] is None


def test_the_view_shows_only_the_active_models_prediction_with_a_column_per_class(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    with sessions.begin() as session:
        add_model(session, "v1", ["business", "sport"])
        [(a1, _), (a2, _)] = upsert_articles(session, [{"text": "one"}, {"text": "two"}])
        insert_predictions(session, [prediction(a1, "v1", {"business": 0.9, "sport": 0.1})])
        add_model(session, "v2", ["business", "sport", "tech"])
        insert_predictions(
            session,
            [
                prediction(a1, "v2", {"business": 0.25, "sport": 0.25, "tech": 0.5}),
                prediction(a2, "v2", {"business": 0.95, "sport": 0.04, "tech": 0.01}),
            ],
        )
    with sessions.begin() as session:
        assert _view_columns(session) == BASE_COLUMNS + ["p_business", "p_sport", "p_tech"]
        rows = _rows(session)
        assert [(r["model_version"], r["label"]) for r in rows] == [
            ("v2", "tech"),
            ("v2", "business"),
        ]
        assert rows[0]["p_tech"] == pytest.approx(0.5)
        assert rows[1]["p_business"] == pytest.approx(0.95)
        high = session.execute(text("SELECT id FROM article_labels WHERE p_business > 0.9"))
        assert list(high.scalars()) == [a2]
        activate_model_version(session, "v1")
    with sessions.begin() as session:
        assert _view_columns(session) == BASE_COLUMNS + ["p_business", "p_sport"]
        rows = _rows(session)
        assert [(r["model_version"], r["label"]) for r in rows] == [
            ("v1", "business"),
            (None, None),
        ]
        assert rows[0]["p_business"] == pytest.approx(0.9)


HOSTILE_LABELS = [
    "it's",
    'say "hi"',
    "50%",
    "%(x)s",
    "a :b",
    "back\\slash",
    "Économie",
    "sci/tech",
    "Sci Tech",
    "'; DROP TABLE articles; --",
    "数据",
    "x" * 200,
]


def test_hostile_labels_become_safe_columns_and_their_probabilities_are_read(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    probabilities = {label: (i + 1) / 100 for i, label in enumerate(HOSTILE_LABELS)}
    with sessions.begin() as session:
        add_model(session, "v1", HOSTILE_LABELS)
        [(aid, _)] = upsert_articles(session, [{"text": "one"}])
        insert_predictions(session, [prediction(aid, "v1", probabilities)])
    with sessions.begin() as session:
        columns = probability_columns(HOSTILE_LABELS)
        assert _view_columns(session) == BASE_COLUMNS + columns
        [row] = _rows(session)
        for label, column in zip(HOSTILE_LABELS, columns, strict=True):
            assert row[column] == pytest.approx(probabilities[label]), label
        assert session.execute(text("SELECT count(*) FROM articles")).scalar() == 1


def test_probability_columns_are_sanitized_unique_and_short() -> None:
    columns = probability_columns(["Sci/Tech", "sci tech", "Économie", "", "x" * 100, "x" * 100])
    assert columns[:4] == ["p_sci_tech", "p_sci_tech_2", "p_economie", "p_"]
    assert len(set(columns)) == 6
    assert all(len(c) <= 63 and c.isascii() for c in columns)
