"""Giving freed memory back to the system after a heavy inspection.

glibc keeps what a thread frees in that thread's malloc arena, and Trio's worker threads each
get one: after a large image was decoded and closed, its hundreds of megabytes stay in the
process (measured: 658 MB after three 79-Mpx PNGs, ``bench/heavy_inspection_memory.py``).
``malloc_trim(0)`` returns the free pages of every arena. Elsewhere (musl, macOS) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_malloc_trim = _find_malloc_trim()


def release_freed_memory() -> None:
    """Return freed heap memory to the system where the C library can (blocking: a worker
    thread's job; it walks every arena)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
