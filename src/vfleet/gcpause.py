"""Pausing CPython's cyclic garbage collector around the compile.

A compile allocates ~100 small objects per tenant and frees almost none of them until it returns. With
a 10,000-tenant fleet in memory every full collection walks millions of objects, and the allocation
rate triggers many of them: they cost a third of the whole compile (measured with
bench/compile_bench.py). The objects hold no cycles worth collecting mid-run; refcounting still frees
everything, and the collector catches up once it is enabled again.
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
            gc.enable()
