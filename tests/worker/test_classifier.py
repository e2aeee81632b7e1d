"""The Classifier in-process, on a real database: many model batches in one call,
the model thread running one batch while this thread encodes and writes the others."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from newsclf.settings import Settings

BATCH = 16


def stored_texts(url: str, artifact: Path, texts: list[str]) -> tuple[Any, list[int]]:
    """A migrated database with ``artifact`` active and ``texts`` stored; their ids in order."""
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record

    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions.begin() as session:
        register_artifact(session, artifact_record(artifact))
        rows = [{"text": t, "source": "test"} for t in texts]
        ids = [article_id for article_id, _ in upsert_articles(session, rows)]
    return sessions, ids


def mixed_texts(bbc_csv: Path, n: int) -> list[str]:
    """``n`` distinct texts of very different lengths: whole articles and RSS-sized cuts."""
    import csv

    with open(bbc_csv, newline="", encoding="utf-8") as f:
        distinct = dict.fromkeys(row["text"] for row in csv.DictReader(f))  # the file repeats some
    articles = list(distinct)[:n]
    return [
        a if i % 3 else " ".join(a.split()[: 5 + i % 40]) + f" item{i}"
        for i, a in enumerate(articles)
    ]


class Watched:
    """A Predictor whose model calls record their thread and the most that ever ran at once."""

    def __init__(self, predictor: Any) -> None:
        self._predictor = predictor
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    def predict_encoded(self, seqs: Any, batch_size: int = 512) -> np.ndarray:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
            self.calls += 1
        try:
            return self._predictor.predict_encoded(seqs, batch_size)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self.running -= 1


class Fixed:
    """An ActiveModel that always serves one predictor."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor

    def current(self) -> Any:
        return self.predictor


@pytest.mark.parametrize("model_calls", [1, 2])
def test_many_model_batches_in_one_call_are_exact_and_at_most_model_calls_run_at_once(
    database_url: str, tiny_artifact: Path, bbc_csv: Path, model_calls: int
) -> None:
    from newsclf.schema.models import Prediction
    from newsclf.trainer.predictor import Predictor
    from newsclf.worker.batch import Classifier

    texts = mixed_texts(bbc_csv, 150)
    sessions, ids = stored_texts(database_url, tiny_artifact, texts)
    predictor = Watched(Predictor.load(tiny_artifact))
    settings = Settings(database_url=database_url, batch_size=BATCH, model_calls=model_calls)
    classifier = Classifier(sessions, Fixed(predictor), settings=settings)  # type: ignore[arg-type]

    outcome = classifier.classify(ids, batch_id="many")

    assert outcome.inserted == len(texts) and outcome.failed == 0
    assert len(outcome.batches) == -(-len(texts) // BATCH)
    assert all(b["size"] <= BATCH for b in outcome.batches)
    assert predictor.most <= model_calls
    assert predictor.threads and all(t.startswith("newsclf-model") for t in predictor.threads)
    assert outcome.seconds["wall"] > 0 and outcome.seconds["model"] > 0
    with sessions() as session:
        rows = session.execute(select(Prediction.article_id, Prediction.probabilities)).all()
    by_id = {article_id: probs for article_id, probs in rows}
    labels = predictor.labels
    stored = np.array([[by_id[i][label] for label in labels] for i in ids])
    alone = np.array([predictor.predict_proba([t])[0] for t in texts])
    assert np.abs(stored - alone).max() <= 1e-5  # stored rounded to 7 places

    again = classifier.classify(ids, batch_id="again")
    assert again.inserted == 0 and again.skipped == len(texts)


def test_a_text_that_raises_sinks_alone_among_many_batches(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path
) -> None:
    from newsclf.schema.models import Article, Prediction
    from newsclf.trainer.predictor import Predictor
    from newsclf.worker.batch import Classifier

    texts = mixed_texts(bbc_csv, 60)
    texts[37] = "POISON " + texts[37]

    def hook(text: str) -> str:
        if text.startswith("POISON"):
            raise ValueError("cannot read this one")
        return text

    sessions, ids = stored_texts(pg_url, tiny_artifact, texts)
    settings = Settings(database_url=pg_url, batch_size=8, max_attempts=2)
    classifier = Classifier(
        sessions, Fixed(Predictor.load(tiny_artifact)), settings=settings, text_hook=hook  # type: ignore[arg-type]
    )

    outcome = classifier.classify(ids)

    assert outcome.inserted == len(texts) - 1 and outcome.failed == 1
    with sessions() as session:
        labeled = set(session.scalars(select(Prediction.article_id)))
        reason = session.scalar(select(Article.failed_reason).where(Article.id == ids[37]))
    assert labeled == set(ids) - {ids[37]}
    assert reason is not None and "ValueError: cannot read this one" in reason
