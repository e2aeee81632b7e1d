"""The shadow model a worker holds beside the active one (see ``newsclf.shadow``).

``ShadowModel.current()`` is the shadow's Predictor or None; it never raises.
At most every ``reload_interval_s`` it reads which version is shadow and loads
it the way ``ActiveModel`` loads the active one (fetched from the database if
needed, verified). A shadow that cannot be loaded, or a database that cannot
be asked, means no shadow for now, with one log line: the active model's
labeling goes on whatever the shadow does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from worker.active_model import REFUSED_RETRY_S, ActiveModel

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
        from schema.shadow import shadow_version

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
