"""The model a worker serves: the registry's active version, reloaded on promotion.

``ActiveModel.current()`` is called before each batch; at most every
``reload_interval_s`` it asks the database which version is active and, if
that changed, loads the new artifact (verified) and swaps it in. A batch is
therefore always served by one version, and every prediction names it::

    model = ActiveModel(sessions, settings)
    predictor = model.current()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsclf.errors import NoModelError
from newsclf.settings import Settings
from schema.models import ModelVersion
from worker.retry import retry_db

log = logging.getLogger("newsclf.worker")


def _load_predictor(path: Path) -> Any:
    from trainer.predictor import Predictor

    return Predictor.load(path)


class ActiveModel:
    """Holds the loaded Predictor of the active version; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        loader: Callable[[Path], Any] = _load_predictor,
    ) -> None:
        self.sessions = sessions
        self.models_dir = Path(settings.models_dir)
        self.reload_interval_s = settings.reload_interval_s
        self.loader = loader
        self._predictor: Any = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Any:
        """The Predictor to use for the next batch (loads or reloads when due)."""
        with self._lock:
            now = time.monotonic()
            if self._predictor is None or now - self._checked_at >= self.reload_interval_s:
                self._refresh()
                self._checked_at = now
            return self._predictor

    def _refresh(self) -> None:
        row = retry_db(self._active_row, what="read active model")
        if row is None:
            if self._predictor is not None:
                return  # keep serving; the registry is being changed
            raise NoModelError(
                "no active model: train one with `newsclf train` (or promote a version)"
            )
        version, path = row
        if self._predictor is not None and self._predictor.version == version:
            return
        started = time.perf_counter()
        predictor = self.loader(self._resolve(version, path))
        previous = getattr(self._predictor, "version", None)
        self._predictor = predictor
        log.info(
            "model loaded version=%s previous=%s seconds=%.2f",
            version,
            previous,
            time.perf_counter() - started,
        )

    def _active_row(self) -> tuple[str, str] | None:
        with self.sessions() as session:
            row = session.execute(
                select(ModelVersion.version, ModelVersion.path).where(
                    ModelVersion.is_active.is_(True)
                )
            ).first()
            return (row.version, row.path) if row else None

    def _resolve(self, version: str, path: str) -> Path:
        """Where the artifact of ``version`` lies on this machine."""
        local = self.models_dir / version
        if local.is_dir():
            return local
        if path and Path(path).is_dir():
            return Path(path)
        raise NoModelError(
            f"artifact of active model {version} not found in {self.models_dir} or at {path!r}"
        )
