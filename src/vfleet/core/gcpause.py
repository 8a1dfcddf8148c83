"""Pausing CPython's cyclic garbage collector around the compile.

A compile allocates ~100 small objects per tenant and frees almost none of them until it returns. With
a 10,000-tenant fleet in memory every full collection walks millions of objects, and the allocation
rate triggers many of them: they cost a third of the whole compile (measured with
bench/compile_bench.py). The objects hold no cycles worth collecting mid-run; refcounting still frees
everything.

When the pause ends, everything allocated during it is moved to the collector's permanent generation
(`gc.freeze`): otherwise the first collection afterwards would traverse all of it at once (0.3 s after a
10,000-tenant compile). Frozen objects are still freed by reference counting when the caller drops
them; only reference cycles among them would wait for `gc.unfreeze()`, and the compile's output has none
to speak of.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
