"""The shadow model a worker holds beside the active one (see ``newsclf.shadow``),
and how the Classifier scores with it.

``ShadowModel.current()`` is the shadow's Predictor or None; it never raises.
At most every ``reload_interval_s`` it reads which version is shadow and loads
it the way ``ActiveModel`` loads the active one (fetched from the database if
needed, verified). A shadow that cannot be loaded, or a database that cannot
be asked, means no shadow for now, with one log line: the active model's
labeling goes on whatever the shadow does.

``ShadowScorer.score`` runs after the active model's predictions of a call are
stored: the same articles, through the Classifier's model threads, written under
the shadow's version; anything that fails there is logged and dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from newsclf.worker.active_model import REFUSED_RETRY_S, ActiveModel

log = logging.getLogger("newsclf.worker")


class ShadowModel(ActiveModel):
    """Holds the loaded Predictor of the shadow version, or None."""

    def current(self) -> Any:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= self.reload_interval_s:
                self._checked_at = now
                try:
                    self._refresh_shadow()
                except Exception as exc:  # noqa: BLE001 - the shadow never stops labeling
                    self._drop(f"shadow model check failed ({type(exc).__name__}: {exc})")
            return self._predictor

    def _shadow_version(self) -> str | None:
        from newsclf.schema.shadow import shadow_version

        with self.sessions() as session:
            return shadow_version(session)

    def _refresh_shadow(self) -> None:
        version = self._shadow_version()
        if version is None:
            if self._predictor is not None:
                self._drop(f"shadow model off version={self._predictor.version}", error=False)
            return
        if self._predictor is not None and self._predictor.version == version:
            return
        refused = self._refused.get(version)
        if refused is not None and time.monotonic() - refused[0] < REFUSED_RETRY_S:
            self._predictor = None
            return
        try:
            predictor = self.loader(self._locate(version))
        except Exception as exc:  # noqa: BLE001 - a refused shadow is no shadow
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            before = self._refused.get(version)
            self._refused[version] = (time.monotonic(), why)
            self._predictor = None
            if before is None or before[1] != why:
                log.error("shadow model refused version=%s: %s; labeling goes on", version, why)
            return
        self._refused.pop(version, None)
        self._predictor = predictor
        log.info("shadow model loaded version=%s", version)

    def _drop(self, message: str, *, error: bool = True) -> None:
        (log.error if error else log.info)(message)
        self._predictor = None


class ShadowScorer:
    """Scores a call's labeled articles with the shadow version, if there is one."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size
        self._warm: Any = None

    def score(
        self,
        items: list[tuple[int, str]],
        *,
        active: str,
        batch_id: str,
        submit: Callable[[Any, list[np.ndarray]], Future[Any]],
        rows: Callable[[Any, list[Any], np.ndarray, str], list[dict]],
        write: Callable[[list[dict]], int],
    ) -> tuple[str, int]:
        """``(shadow version, predictions inserted)`` for ``(article id, text)`` items the
        active model just labeled (``("", 0)``: no shadow, or the shadow is the active).
        ``submit`` runs a model call, ``rows`` makes prediction rows, ``write`` stores them."""
        predictor = self.model.current() if items else None
        if predictor is None or predictor.version == active:
            return "", 0
        inserted = 0
        try:
            if predictor is not self._warm:
                submit(predictor, [np.array([2], np.int32)]).result()
                self._warm = predictor
            ranked = sorted(items, key=lambda item: len(item[1]))
            size = self.batch_size
            groups = [ranked[i : i + size] for i in range(0, len(ranked), size)]
            running = [(g, submit(predictor, predictor.encode([t for _, t in g]))) for g in groups]
            for group, future in running:
                probs, _ = future.result()
                ids = [_Item(article_id) for article_id, _ in group]
                inserted += write(rows(predictor, ids, probs, batch_id))
            log.info(
                "shadow batch_id=%s model_version=%s size=%d inserted=%d",
                batch_id, predictor.version, len(items), inserted,
            )
        except Exception:  # noqa: BLE001 - see the module docstring
            log.exception("shadow model %s failed on batch %s", predictor.version, batch_id)
        return predictor.version, inserted


class _Item:
    """What ``Classifier._rows`` reads of an article: its id."""

    __slots__ = ("id",)

    def __init__(self, article_id: int) -> None:
        self.id = article_id
