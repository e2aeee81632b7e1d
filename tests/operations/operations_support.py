"""Helpers shared by the model-operations tests (shadow, compare, report, review,
job progress): a migrated database with the tiny model registered, articles stored,
and the real in-process Classifier (a plain module, imported by name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from newsclf.settings import Settings


def version_of(artifact: Path) -> str:
    return str(json.loads((artifact / "MANIFEST.json").read_text())["version"])


class Database:
    """A migrated database, its sessions and the settings of in-process workers."""

    def __init__(self, url: str, models_dir: Path) -> None:
        from newsclf.schema.db import make_engine, session_factory, upgrade

        upgrade(url)
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)
        self.settings = Settings(
            database_url=url, models_dir=models_dir, reload_interval_s=0, batch_size=16
        )

    def register(self, artifact: Path, *, activate: bool = True) -> str:
        from newsclf.schema.registry import register_artifact
        from newsclf.trainer.blobs import artifact_record

        record = artifact_record(artifact)
        with self.sessions.begin() as session:
            return register_artifact(session, record, activate=activate).version

    def store(self, rows: list[dict[str, Any]]) -> list[int]:
        from newsclf.schema.articles import upsert_articles

        with self.sessions.begin() as session:
            return [i for i, _ in upsert_articles(session, rows)]

    def classifier(self) -> Any:
        """The worker's Classifier with the real ActiveModel (and shadow, when set)."""
        from newsclf.worker.active_model import ActiveModel
        from newsclf.worker.batch import Classifier

        model = ActiveModel(self.sessions, self.settings)
        return Classifier(self.sessions, model, settings=self.settings)

    def sql(self, query: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).all())

    def sql_exec(self, query: str, **params: Any) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(query), params)

    def close(self) -> None:
        self.engine.dispose()
