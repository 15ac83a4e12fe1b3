"""Giving freed memory back to the system after a heavy inspection.

glibc keeps what a thread frees in that thread's malloc arena, and Trio's worker threads each
get one: after a large image was decoded and closed, its hundreds of megabytes stay in the
process (measured: 658 MB after three 79-Mpx PNGs, ``bench/heavy_inspection_memory.py``).
``malloc_trim(0)`` returns the free pages of every arena. Elsewhere (musl, macOS) it is a no-op.

Large transfer buffers (an S3 upload's 8 MiB parts) go through ``mmap`` instead
(``unpool_large_buffers``): glibc's threshold for that rises with every large block freed, after
which such buffers come from the arenas and stay there.
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


#: glibc's ``mallopt`` parameters: the free space at the top of an arena from which it is
#: given back, and the size from which blocks are ``mmap``ed
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: blocks from 4 MiB up are mapped and unmapped: an S3 upload's parts (8 MiB), not the 1 MiB
#: chunks of every transfer, which would pay a page fault per 4 KiB each time
LARGE_BUFFER = 4 * 1024 * 1024


def unpool_large_buffers() -> None:
    """Serve blocks of ``LARGE_BUFFER`` and up with ``mmap``, so that each goes back to the
    system when freed. Setting the threshold also stops glibc from raising it by itself (which
    it does each time a mapped block is freed, after which 8 MiB parts were carved from the
    arenas: measured, a 2 GiB S3 upload's peak RSS 160 MiB, 124 MiB with this) — and fixes the
    trim threshold, which is therefore set too (below). A serving process calls it once at
    start; a no-op without glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, LARGE_BUFFER)
    # Setting the mmap threshold fixes the trim threshold at its 128 KiB default: every 1 MiB
    # chunk freed at the top of an arena was given back and faulted in again by the next one
    # (measured: 137 page faults per 1 MiB range instead of 15). Blocks below the mmap
    # threshold now stay in the arenas, as they do when glibc tunes both by itself.
    mallopt(_M_TRIM_THRESHOLD, 2 * LARGE_BUFFER)
