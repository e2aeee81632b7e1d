"""Classify a set of article ids in padded batches and store the results.

This is the worker's whole job, as plain Python (no Celery here): the Celery
task, the embedded ``newsclf run`` queue and the tests all call it::

    classifier = Classifier(sessions, ActiveModel(sessions, settings), settings=settings)
    outcome = classifier.classify([17, 18, 19], batch_id="b-1")

Per call: claim the articles that still need a prediction from the active
model (counting one delivery each), run the model over them sorted by length
in batches of ``batch_size`` padded to each batch's longest text, and write
each batch's predictions in one upsert. The model runs in threads of its own
(TensorFlow releases the GIL), up to ``model_calls`` batches at once, while
this thread encodes the next batch and writes the ones before: the cores do
not wait on Python or on the database. Two calls at once share TensorFlow's
inter-op threads (one per core), whose work fills the gaps each call leaves
(its two LSTM directions rarely finish together). An article that was delivered before
without result (its worker died, or its batch failed) is a suspect and runs
alone, so a poison article can only sink itself; after ``max_attempts``
deliveries it is marked failed with its reason. Lost database connections are
retried (see ``retry.py``); every write is its own transaction.

Long because the pipeline, the suspects' isolation and the delivery counting
work on one call's claimed articles and outcome; the SQL is in
``schema.articles`` and ``schema.jobs``.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.articles import claim_articles, count_deliveries, mark_articles_failed
from newsclf.schema.jobs import finish_jobs_of_articles
from newsclf.schema.predictions import insert_predictions
from newsclf.settings import Settings
from newsclf.worker.active_model import ActiveModel
from newsclf.worker.metrics import Metrics, NoMetrics
from newsclf.worker.retry import retry_db
from newsclf.worker.shadow import ShadowModel, ShadowScorer

log = logging.getLogger("newsclf.worker")

GAVE_UP = (
    "gave up after {n} deliveries without a result (the worker died or the batch failed each time)"
)


@dataclass
class Claimed:
    """An article to classify in this call."""

    id: int
    text: str
    attempts: int  # deliveries so far, this one included
    ids: np.ndarray | None = None  # token ids, once encoded
    hooked: str | None = None  # the text after NEWSCLF_TEXT_HOOK, once applied


@dataclass
class Outcome:
    """What one ``classify`` call did; logged as one line per model batch."""

    requested: int = 0
    inserted: int = 0
    skipped: int = 0  # already labeled by this version, or already failed
    failed: int = 0
    version: str = ""
    stored: set[int] = field(default_factory=set)  # ids the active model labeled in this call
    shadow_version: str = ""
    shadow_inserted: int = 0
    batches: list[dict[str, float | int | str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went, by step, and "wall"

    def timed(self, step: str, started: float) -> None:
        self.add(step, time.perf_counter() - started)

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = round(self.seconds.get(step, 0.0) + seconds, 4)


class Classifier:
    """Turns article ids into stored predictions; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        model: ActiveModel,
        *,
        settings: Settings,
        text_hook: Callable[[str], str] | None = None,
        metrics: Metrics | None = None,
        shadow: Any = None,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics or NoMetrics()
        self.model = model
        self.shadow = ShadowScorer(
            shadow if shadow is not None else ShadowModel(sessions, settings), settings.batch_size
        )
        self.batch_size = settings.batch_size
        self.max_attempts = settings.max_attempts
        self.text_hook = text_hook
        self._warm: Any = None
        # Every model call goes through these threads: at most model_calls at
        # once, and this thread is free for encoding and writing meanwhile.
        self.model_calls = settings.model_calls
        self._model_threads = ThreadPoolExecutor(
            max_workers=self.model_calls, thread_name_prefix="newsclf-model"
        )

    def classify(self, article_ids: Sequence[int], batch_id: str | None = None) -> Outcome:
        batch_id = batch_id or uuid.uuid4().hex[:12]
        called = time.perf_counter()
        predictor = self.warm_up()  # hot reload happens here, between batches only
        version = predictor.version
        ids = sorted(set(int(i) for i in article_ids))
        outcome = Outcome(requested=len(ids), version=version)
        if not ids:
            return outcome
        t = time.perf_counter()
        claimed, gave_up = retry_db(lambda: self._claim(ids, version), what="claim")
        outcome.timed("claim", t)
        outcome.failed += len(gave_up)
        outcome.skipped = len(ids) - len(claimed) - len(gave_up)
        fresh = [c for c in claimed if c.attempts == 1]
        suspects = [c for c in claimed if c.attempts > 1]

        self._run_pipelined(predictor, fresh, batch_id, outcome)
        t = time.perf_counter()
        outcome.shadow_version, outcome.shadow_inserted = self.shadow.score(
            [(c.id, self._text(c)) for c in fresh if c.id in outcome.stored],
            active=version,
            batch_id=batch_id,
            submit=lambda p, seqs: self._model_threads.submit(_predict, p, seqs),
            rows=self._rows,
            write=lambda rows: retry_db(lambda: self._write(rows), what="write"),
        )
        outcome.timed("shadow", t)
        # Suspects were delivered before and never finished: maybe one of them
        # kills its worker. Smaller groups each delivery, alone on the last, so
        # a poison article ends up sinking only itself.
        for attempts in sorted({c.attempts for c in suspects}):
            same = [c for c in suspects if c.attempts == attempts]
            if attempts >= self.max_attempts:
                self._run_alone(predictor, same, batch_id, outcome)
                continue
            size = max(1, self.batch_size // 16 ** (attempts - 1))
            # In id order, not by length: sorting runs every text (a killer too)
            # before the first group is written.
            for group in (same[i : i + size] for i in range(0, len(same), size)):
                self._run_isolating(predictor, group, batch_id, outcome)

        t = time.perf_counter()
        retry_db(lambda: self._finish_jobs(ids), what="finish jobs")
        outcome.timed("finish", t)
        outcome.timed("wall", called)  # less than the steps' sum: the model overlaps the rest
        self.metrics.merged_batch(seconds=outcome.seconds["wall"], failed=outcome.failed)
        return outcome

    def warm_up(self) -> Any:
        """The current predictor, its compiled function traced once before real work."""
        predictor = self.model.current()
        if predictor is not self._warm:
            self._model_threads.submit(_predict, predictor, [np.array([2], dtype=np.int32)]).result()
            self._warm = predictor
            self.metrics.model_loaded(predictor.version)
        return predictor

    # -- steps -------------------------------------------------------------

    def _claim(self, ids: list[int], version: str) -> tuple[list[Claimed], list[int]]:
        """Articles needing a prediction by ``version``; count this delivery; give up on spent ones."""
        with self.sessions.begin() as session:
            live, spent = claim_articles(
                session, ids, version=version, max_attempts=self.max_attempts
            )
            if spent:
                mark_articles_failed(session, spent, GAVE_UP.format(n=self.max_attempts))
        return [Claimed(*row) for row in live], spent

    def _run_pipelined(
        self, predictor: object, items: list[Claimed], batch_id: str, outcome: Outcome
    ) -> None:
        """``items`` in model batches of similar length: batches k-m+1..k run in the model
        threads (m = ``model_calls``) while this thread encodes batch k+1 and writes
        batch k-m, in order.

        Batches are formed by text length in characters (the ids are not known
        before encoding); each is still padded only to its own longest id sequence.
        The longest go first: the call ends with its cheapest batch, so the time one
        model thread runs alone while the other has nothing left is short.
        """
        if not items:
            return
        ranked = sorted(items, key=lambda item: len(item.text), reverse=True)
        groups = [ranked[i : i + self.batch_size] for i in range(0, len(ranked), self.batch_size)]
        running: collections.deque[tuple[list[Claimed], Future[Any]]] = collections.deque()
        for group in groups:
            started = time.perf_counter()
            submitted = self._submit(predictor, group)
            outcome.timed("encode", started)
            if len(running) >= self.model_calls:
                self._complete(predictor, *running.popleft(), batch_id, outcome)
            running.append((group, submitted))
        while running:
            self._complete(predictor, *running.popleft(), batch_id, outcome)

    def _submit(self, predictor: object, group: list[Claimed]) -> Future[Any]:
        """Encode ``group`` here and queue its model call; a text that fails to encode
        comes back as the future's exception (isolation then finds it)."""
        try:
            seqs = [self._encoded(predictor, item) for item in group]
        except Exception as exc:
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            return failed
        return self._model_threads.submit(_predict, predictor, seqs)

    def _complete(
        self,
        predictor: object,
        group: list[Claimed],
        running: Future[Any],
        batch_id: str,
        outcome: Outcome,
    ) -> None:
        """Wait for ``group``'s model call and store its predictions (or isolate its failure)."""
        try:
            probs, seconds = running.result()
        except Exception as exc:
            self._isolate(predictor, group, batch_id, outcome, exc)
            return
        self._store(predictor, group, probs, seconds, batch_id, outcome)

    def _encoded(self, predictor: object, item: Claimed) -> np.ndarray:
        """The article's token ids, computed once per call (the same preprocessing as training)."""
        if item.ids is None:
            item.ids = predictor.encode([self._text(item)])[0]  # type: ignore[attr-defined]
        return item.ids

    def _text(self, item: Claimed) -> str:
        """The text the models read: the hook applied once per article and call, so the
        shadow scores what the active model read without running the hook again."""
        if self.text_hook is None:
            return item.text
        if item.hooked is None:
            item.hooked = self.text_hook(item.text)
        return item.hooked

    def _run_isolating(
        self, predictor: object, group: list[Claimed], batch_id: str, outcome: Outcome
    ) -> None:
        """Classify ``group``; if it fails, halve it until the failing article stands alone."""
        self._complete(predictor, group, self._submit(predictor, group), batch_id, outcome)

    def _store(
        self,
        predictor: object,
        group: list[Claimed],
        probs: np.ndarray,
        seconds: float,
        batch_id: str,
        outcome: Outcome,
    ) -> None:
        """Write one model batch's predictions and log the batch."""
        outcome.add("model", seconds)
        t = time.perf_counter()
        rows = self._rows(predictor, group, probs, batch_id)
        inserted = retry_db(lambda: self._write(rows), what="write predictions")
        outcome.timed("write", t)
        outcome.inserted += inserted
        outcome.stored.update(item.id for item in group)
        longest = max((len(item.ids) for item in group if item.ids is not None), default=1)
        padded = predictor.padded_length(longest)  # type: ignore[attr-defined]
        line = {
            "batch_id": batch_id,
            "size": len(group),
            "padded_length": int(padded),
            "model_version": predictor.version,  # type: ignore[attr-defined]
            "seconds": round(seconds, 4),
            "articles_per_s": round(len(group) / seconds, 1) if seconds > 0 else 0.0,
            "inserted": inserted,
        }
        outcome.batches.append(line)
        log.info("batch %s", " ".join(f"{k}={v}" for k, v in line.items()), extra={"fields": line})
        labels = predictor.labels  # type: ignore[attr-defined]
        self.metrics.model_batch(
            str(line["model_version"]), labels, probs, padded_length=padded, seconds=seconds
        )

    def _run_alone(
        self, predictor: object, items: list[Claimed], batch_id: str, outcome: Outcome
    ) -> None:
        """Last delivery: each article alone, its delivery counted just before it runs,
        so an article that kills the worker spends its own last attempt, not the last
        attempt of the articles after it (the claim counted them all: undone first)."""
        ids = [c.id for c in items]
        retry_db(lambda: self._count_delivery(ids, -1), what="count attempt")
        for item in items:
            retry_db(lambda item=item: self._count_delivery([item.id]), what="count attempt")
            self._run_isolating(predictor, [item], batch_id, outcome)

    def _isolate(
        self,
        predictor: object,
        group: list[Claimed],
        batch_id: str,
        outcome: Outcome,
        error: Exception,
    ) -> None:
        """``group`` failed: halve it, or retry a lone article until it is out of tries."""
        if len(group) > 1:
            half = len(group) // 2
            self._run_isolating(predictor, group[:half], batch_id, outcome)
            self._run_isolating(predictor, group[half:], batch_id, outcome)
        elif group[0].attempts < self.max_attempts:
            group[0].attempts += 1
            retry_db(lambda: self._count_delivery([group[0].id]), what="count attempt")
            self._run_isolating(predictor, group, batch_id, outcome)
        else:
            retry_db(lambda: self._record_failure(group[0], error), what="record failure")
            outcome.failed += 1

    @staticmethod
    def _rows(
        predictor: object, group: list[Claimed], probs: np.ndarray, batch_id: str
    ) -> list[dict]:
        labels: list[str] = predictor.labels  # type: ignore[attr-defined]
        version: str = predictor.version  # type: ignore[attr-defined]
        # Whole-array steps, then one plain-Python pass (a third of the per-value loop's time).
        top = probs.argmax(axis=1)
        confidence = probs[np.arange(len(probs)), top].astype(np.float64).tolist()
        rounded = np.round(probs.astype(np.float64), 7).tolist()
        return [
            {
                "article_id": item.id,
                "model_version": version,
                "label": labels[k],
                "confidence": c,
                "probabilities": dict(zip(labels, p, strict=True)),
                "batch_id": batch_id,
            }
            for item, k, c, p in zip(group, top.tolist(), confidence, rounded, strict=True)
        ]

    def _write(self, rows: list[dict]) -> int:
        with self.sessions.begin() as session:
            return insert_predictions(session, rows)

    def _count_delivery(self, article_ids: list[int], by: int = 1) -> None:
        with self.sessions.begin() as session:
            count_deliveries(session, article_ids, by)

    def _record_failure(self, item: Claimed, exc: BaseException) -> None:
        """The article failed ``max_attempts`` times: mark it failed with the reason."""
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"failed {item.attempts} times: {type(exc).__name__}: {message}"[:500]
        with self.sessions.begin() as session:
            mark_articles_failed(session, [item.id], reason)
        log.warning("article %s failed: %s", item.id, reason)

    def _finish_jobs(self, ids: list[int]) -> None:
        """Close the open jobs of these articles that have nothing pending any more."""
        with self.sessions.begin() as session:
            finish_jobs_of_articles(session, ids)


def configure_tensorflow(threads: int) -> None:
    """TensorFlow's intra-op threads (``tf_threads``; 0 keeps its default, one per core).

    Call before TensorFlow runs anything; later it is too late and this logs why.
    The default model's cost is the BiLSTM's two loops, one per direction, which
    TensorFlow runs side by side anyway (inter-op threads); splitting each step's
    small matrix products over more threads only adds spinning, and takes the
    cycles the encoding and the database need. Two batches at once
    (``model_calls``) on one thread each keep the cores busier than one batch on
    two threads.
    """
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError as exc:  # already initialized (e.g. `newsclf run` trained first)
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            log.info("tf_threads=%d not applied: %s", threads, exc)


def _predict(predictor: Any, seqs: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """One model call, in a model thread: ``(probabilities, seconds)``."""
    started = time.perf_counter()
    probs = predictor.predict_encoded(seqs, batch_size=max(len(seqs), 1))
    return probs, time.perf_counter() - started
