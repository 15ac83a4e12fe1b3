"""The preview actor's own worker threads, at the lowest CPU priority.

Previews are background work: on a busy machine they must take the CPU that uploads leave
idle, not share it with them (the upload answers of BENCHMARKS.md slowed by half when previews
ran in Trio's shared threads at normal priority). Each thread of this pool lowers its own nice
value to 19 when it starts (Linux schedules threads individually), and a renderer's ffmpeg
inherits it from the thread that starts it. The pool has ``concurrency`` threads, so at most
that many renderings run, even ones a timeout has abandoned (they finish on their own).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import trio

T = TypeVar("T")
BACKGROUND_NICE = 19


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


class BackgroundThreads:
    def __init__(self, concurrency: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, concurrency),
            thread_name_prefix="asset-preview",
            initializer=_lower_priority,
        )

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` in a pool thread. Cancelled, the caller stops waiting; the thread
        finishes the work on its own (its result is dropped) and keeps its place in the pool."""
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        future = self._pool.submit(work, *args)

        def wake(_: object) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        await done.wait()
        return future.result()

    def close(self) -> None:
        """Stop taking work; threads still rendering finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)
