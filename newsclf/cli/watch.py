"""What ``newsclf status --watch`` adds to each refresh: a progress bar and the
labeling rate of every job, from the difference between two snapshots."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

BAR_WIDTH = 30
"""Characters of a job's progress bar."""


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#########.....]  63%`` for ``done`` of ``total`` (an empty job shows 0 %)."""
    share = min(1.0, done / total) if total > 0 else 0.0
    filled = int(round(share * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {share:4.0%}"


class Rates:
    """Articles per second each job gained between the last two refreshes."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[float, int]] = {}

    def update(self, jobs: Iterable[dict[str, Any]], now: float | None = None) -> dict[int, float]:
        now = time.monotonic() if now is None else now
        rates: dict[int, float] = {}
        for job in jobs:
            finished = job["labeled"] + job["failed"]
            before = self._seen.get(job["job_id"])
            if before is not None and now > before[0]:
                rates[job["job_id"]] = max(0.0, (finished - before[1]) / (now - before[0]))
            self._seen[job["job_id"]] = (now, finished)
        return rates


def job_progress_line(job: dict[str, Any], rate: float | None) -> str:
    """The line under a job's row: its bar, and its rate once two refreshes were seen."""
    line = "      " + progress_bar(job["labeled"] + job["failed"], job["total"])
    if rate is not None:
        line += f"  {rate:,.0f} articles/s"
    return line
