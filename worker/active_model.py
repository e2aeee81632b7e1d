"""The model a worker serves: the registry's active version, reloaded on promotion.

``ActiveModel.current()`` is called before each batch; at most every
``reload_interval_s`` it asks the database which version is active and, if
that changed, loads the new artifact (verified) and swaps it in. A batch is
therefore always served by one version, and every prediction names it::

    model = ActiveModel(sessions, settings)
    predictor = model.current()

The artifact is looked up in ``models_dir/VERSION``; a worker that lacks it
fetches the version's blob from the database, checks its sha256, unpacks it
there atomically and then ``Predictor.load`` verifies the manifest. A version
that cannot be loaded (a corrupted blob, a tampered copy) is refused with one
clear log line, whatever the reason (a corrupted or hostile blob, a tampered
copy, a model.keras that Keras refuses to load): the worker keeps serving the
model it has, or, having none, raises NoModelError with the reason. A refused
version is tried again after ``REFUSED_RETRY_S`` (someone may have mended it),
not at every batch, and logged again only if the reason changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from newsclf.errors import NewsclfError, NoModelError
from newsclf.schema.registry import active_version
from newsclf.settings import Settings
from newsclf.worker.retry import retry_db

log = logging.getLogger("newsclf.worker")

REFUSED_RETRY_S = 60.0
"""Seconds before a worker tries again to load a version it refused."""


def _load_predictor(path: Path) -> Any:
    from newsclf.trainer.predictor import Predictor

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
        self._refused: dict[str, tuple[float, str]] = {}  # version: (when, why)
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
        version = retry_db(self._active_version, what="read active model")
        if version is None:
            if self._predictor is not None:
                return  # keep serving; the registry is being changed
            raise NoModelError(
                "no active model: train one with `newsclf train` (or promote a version)"
            )
        if self._predictor is not None and self._predictor.version == version:
            return
        refused = self._refused.get(version)
        if refused is not None and time.monotonic() - refused[0] < REFUSED_RETRY_S:
            self._keep_or_raise(version, refused[1])
            return
        started = time.perf_counter()
        try:
            path = retry_db(lambda: self._locate(version), what="fetch model")
        except NewsclfError as exc:  # ArtifactError, NoModelError: one line each
            self._refuse(version, exc)
            return
        try:
            predictor = self.loader(path)
        except Exception as exc:  # noqa: BLE001 - whatever Keras raises refuses the version
            self._refuse(version, exc)
            return
        self._refused.pop(version, None)
        previous = getattr(self._predictor, "version", None)
        self._predictor = predictor
        log.info(
            "model loaded version=%s previous=%s seconds=%.2f",
            version,
            previous,
            time.perf_counter() - started,
        )

    def _refuse(self, version: str, exc: Exception) -> None:
        """Refuse ``version``: one log line (not repeated while the reason stays the
        same), and keep serving the model in hand.

        ArtifactError and NoModelError say what is wrong in one line; anything else
        comes from Keras or TensorFlow loading the file (a ``safe_mode`` refusal, a
        layer this version does not know) and is named with its type."""
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, NewsclfError):
            why = f"the model cannot be loaded ({type(exc).__name__}: {why[:300]})"
        before = self._refused.get(version)
        self._refused[version] = (time.monotonic(), why)
        if before is None or before[1] != why:
            log.error(
                "model refused version=%s: %s; %s",
                version,
                why,
                f"still serving {self._predictor.version}" if self._predictor else "no model",
            )
        self._keep_or_raise(version, why)

    def _keep_or_raise(self, version: str, why: str) -> None:
        if self._predictor is None:
            raise NoModelError(f"active model {version} cannot be loaded: {why}")

    def _active_version(self) -> str | None:
        with self.sessions() as session:
            return active_version(session)

    def _locate(self, version: str) -> Path:
        """The artifact directory of ``version`` on this machine (fetched if needed)."""
        from newsclf.worker.artifacts import local_artifact

        fetched = not (self.models_dir / version).is_dir()
        with self.sessions() as session:
            path = local_artifact(session, version, self.models_dir)
        if fetched and path.parent == self.models_dir:
            log.info("model fetched from the database version=%s into=%s", version, path)
        return path
