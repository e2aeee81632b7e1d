"""Objects that live as long as the process, kept out of the garbage collector's way::

    with lives_until_exit():
        import tensorflow  # hundreds of thousands of objects, never garbage

No collection runs while the block builds them (each one would walk everything
built so far), and afterwards they are frozen (``gc.freeze``), so no later
collection walks them again. Only for what is never replaced: a frozen object
is never collected.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def lives_until_exit() -> Iterator[None]:
    """Build with the collector off, then freeze everything built so far; the
    collector is left on only if it was on before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
