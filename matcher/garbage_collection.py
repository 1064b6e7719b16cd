"""Pausing Python's cyclic garbage collector while a whole LA's records are built in bulk.

Why: reading 25,000 children, or making 25,000 tailored lists, creates hundreds of thousands of
small objects, none of them garbage and none in a reference cycle; yet each burst of
allocations sets off a collection that walks the whole heap (every record made so far).
Measured, paused, those steps take a third of the time. Reference counting still frees
everything as usual meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's state is restored after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
