"""``lives_until_exit``: what a block builds is frozen out of the collector, no
collection runs meanwhile, and the collector's on/off state is put back. Run in a
process of its own: freezing this one would keep every test's garbage."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from newsclf.lifetime import lives_until_exit

collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
{before}
with lives_until_exit():
    built = [[] for _ in range(50_000)]  # enough to trigger collections if one could run
    off_inside = not gc.isenabled()
print(off_inside, len(collections), gc.get_freeze_count() >= 50_000, gc.isenabled())
"""


def _run(before: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.split()


def test_a_block_builds_with_the_collector_off_and_ends_frozen_with_it_back_on() -> None:
    assert _run("") == ["True", "0", "True", "True"]


def test_a_collector_that_was_off_stays_off() -> None:
    assert _run("gc.disable()") == ["True", "0", "True", "False"]
