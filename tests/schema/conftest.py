"""Fixtures for schema tests: every test runs on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.db import make_engine, session_factory, upgrade
from newsclf.schema.models import ModelVersion
from newsclf.schema.registry import register_model_version


@pytest.fixture(params=["pg_url", "sqlite_url"], ids=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL, once per backend."""
    return str(request.getfixturevalue(request.param))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _add_model(
    session: Session,
    version: str,
    labels: Sequence[str] = ("business", "sport", "tech"),
    *,
    activate: bool = True,
) -> ModelVersion:
    """Register a model version with placeholder artifact fields."""
    return register_model_version(
        session,
        version=version,
        sha256="0" * 64,
        path=f"/models/{version}",
        labels=list(labels),
        metrics={"accuracy": 0.9},
        config={"units": 4},
        accuracy=0.9,
        data_sha256="1" * 64,
        activate=activate,
    )


def _prediction(article_id: int, version: str, probabilities: dict[str, float]) -> dict:
    """A prediction row whose label is the most probable class."""
    label = max(probabilities, key=probabilities.__getitem__)
    return {
        "article_id": article_id,
        "model_version": version,
        "label": label,
        "confidence": probabilities[label],
        "probabilities": probabilities,
        "batch_id": "batch-1",
    }


@pytest.fixture
def add_model() -> object:
    """``add_model(session, version, labels=..., activate=True)``: register a model version."""
    return _add_model


@pytest.fixture
def prediction() -> object:
    """``prediction(article_id, version, probabilities)``: a prediction row."""
    return _prediction
