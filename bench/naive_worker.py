"""The careless service the throughput benchmark compares against.

One Celery task per article: read its text, call ``model.predict`` on that one
article padded to the full length, insert its row, commit. Run by
``bench/throughput.py`` as::

    celery -A bench.naive_worker worker --pool solo -Q naive

It serves the registry's active model, like the real worker, and reads its
database and broker from the same settings.
"""

from __future__ import annotations

import functools
from typing import Any

from celery import Celery
from sqlalchemy import select

from newsclf.settings import get_settings

settings = get_settings()
app = Celery("naive", broker=settings.broker_url)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)


@functools.cache
def _state() -> tuple[Any, Any]:
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.worker.active_model import ActiveModel

    sessions = session_factory(make_engine(settings.database_url))
    return ActiveModel(sessions, settings).current(), sessions


@app.task(name="naive.classify")
def classify(article_id: int) -> None:
    from newsclf.schema.models import Article
    from newsclf.schema.predictions import insert_predictions
    from newsclf.trainer.preprocess import pad

    predictor, sessions = _state()
    with sessions.begin() as session:
        text = session.scalar(select(Article.text).where(Article.id == article_id))
        ids = pad(predictor.encode([text]), predictor.config.max_length)
        probs = predictor.model.predict(ids, verbose=0)[0]  # the careless call
        k = int(probs.argmax())
        insert_predictions(
            session,
            [
                {
                    "article_id": article_id,
                    "model_version": predictor.version,
                    "label": predictor.labels[k],
                    "confidence": float(probs[k]),
                    "probabilities": {
                        lb: float(p) for lb, p in zip(predictor.labels, probs, strict=True)
                    },
                    "batch_id": "naive",
                }
            ],
        )
