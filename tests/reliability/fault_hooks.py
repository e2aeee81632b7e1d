"""``NEWSCLF_TEXT_HOOK`` functions that worker subprocesses of the fault tests load.

The worker applies the hook to each text before the model. Markers in a text
make it misbehave; a gate file lets a test hold a worker in the middle of a
batch (after it claimed its articles, before it wrote anything)::

    NEWSCLF_TEXT_HOOK=fault_hooks:hook  PYTHONPATH=tests/reliability  newsclf worker

Test code, so it reads its own variables from the environment:
``NEWSCLF_TEST_GATE`` names the gate file. While it exists the hook waits
(once the process has seen as many texts as the file says, 0 when empty),
and ``<gate>.held`` holds the pid of the worker waiting there.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

POISON = "POISON-PILL-7f3a"
"""A text holding this makes the hook raise (a text the model cannot take)."""

KILLER = "KILLER-PILL-9c1e"
"""A text holding this kills the worker process outright (SIGKILL, like the OOM killer)."""


_seen = 0
"""Texts this process has seen."""


def _let_through(gate: str) -> int:
    try:
        return int(Path(gate).read_text() or 0)
    except (OSError, ValueError):
        return 0


class PoisonText(ValueError):
    """What the poison article raises."""


def hook(text: str) -> str:
    """Wait at the gate, then raise on poison, die on a killer, else return ``text``."""
    global _seen
    _seen += 1
    gate = os.environ.get("NEWSCLF_TEST_GATE")
    if gate and os.path.exists(gate) and _seen > _let_through(gate):
        held = Path(gate + ".held")
        held.write_text(str(os.getpid()))
        while os.path.exists(gate):
            time.sleep(0.05)
        held.unlink(missing_ok=True)
    if POISON in text:
        raise PoisonText("poison article: the model cannot take this text")
    if KILLER in text:
        with open(os.environ.get("NEWSCLF_TEST_DEATHS", os.devnull), "a") as deaths:
            deaths.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return text
