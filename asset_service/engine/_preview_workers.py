"""Where renderings run: worker processes at the lowest CPU priority, threads as a fallback.

Previews are background work: on a busy machine they must take the CPU that uploads leave
idle, not share it with them. Niced threads are not enough: a rendering thread holds the GIL
between Pillow's calls, and when the kernel seldom schedules it (nice 19) the event loop waits
for the GIL it holds — uploads slowed by a third in ``bench/previews.py``. So a renderer that
is a module-level function runs in a spawned process of its own pool (nice 19, SIGINT ignored:
the server stops it), which also keeps a renderer that crashes the interpreter (a decoder's
segfault, the kernel's OOM killer) from taking the server with it. A renderer that cannot be
sent to another process (a bound method, a closure) runs in a niced thread of this process.

Each pool has ``concurrency`` workers, so at most that many renderings run, even ones a
timeout has abandoned (they finish on their own).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import trio

T = TypeVar("T")
BACKGROUND_NICE = 19
PR_SET_PDEATHSIG = 1


class RendererDied(Exception):
    """The process running a rendering died (a crash in a decoder, a signal)."""


def _lower_thread_priority() -> None:
    # Linux schedules threads individually: this lowers the calling thread only.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


def _start_worker_process(server_pid: int) -> None:
    _die_with_the_server(server_pid)
    with contextlib.suppress(OSError):
        os.nice(BACKGROUND_NICE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _die_with_the_server(server_pid: int) -> None:
    """A worker outlives a SIGKILLed server otherwise, rendering for nobody and holding the
    server's stdout and stderr open. Linux only; elsewhere the worker ends when it next
    reads its work queue."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:  # it died before the line above
        os._exit(1)


def runs_in_a_process(work: Callable[..., Any]) -> bool:
    """Whether ``work`` can be named by a spawned process: a module-level function."""
    module = getattr(work, "__module__", None)
    qualname = getattr(work, "__qualname__", "")
    return (
        type(work).__name__ == "function"
        and module not in (None, "__main__", "__mp_main__")
        and "<" not in qualname
    )


async def _wait(future: concurrent.futures.Future[T]) -> T:
    """The result of ``future`` without blocking the event loop. Cancelled, the caller stops
    waiting; the work finishes on its own (its result is dropped)."""
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: object) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(done.set)

    future.add_done_callback(wake)
    await done.wait()
    return future.result()


class BackgroundWorkers:
    def __init__(self, concurrency: int) -> None:
        self._concurrency = max(1, concurrency)
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._concurrency,
            thread_name_prefix="asset-preview",
            initializer=_lower_thread_priority,
        )
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None

    def _process_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._processes is None:
            self._processes = self._new_pool(self._concurrency)
        return self._processes

    @staticmethod
    def _new_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs threads and a Trio loop copies locks
        # held by other threads
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker_process,
            initargs=(os.getpid(),),
        )

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` in a worker process when it can run there, else in a thread."""
        if not runs_in_a_process(work):
            return await _wait(self._threads.submit(work, *args))
        # A process that dies breaks its whole pool, and every rendering in it fails with
        # it: each is tried once more, alone in a process of its own, where only the culprit
        # dies again.
        pool = self._process_pool()
        try:
            return await _wait(pool.submit(work, *args))
        except BrokenProcessPool:
            self._discard(pool)
        alone = self._new_pool(1)
        try:
            return await _wait(alone.submit(work, *args))
        except BrokenProcessPool:
            raise RendererDied("the renderer's process died") from None
        finally:
            _stop(alone)

    def _discard(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        if self._processes is pool:
            self._processes = None
            _stop(pool)

    def close(self) -> None:
        """Stop taking work; threads still rendering finish in the background, processes
        are stopped."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            _stop(self._processes)
            self._processes = None


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    # A rendering abandoned by its timeout may still run: stop its process rather than make
    # the server's exit wait for it. ``_processes`` is the pool's map of its children (3.11
    # has no public way to stop them; 3.14 adds ``terminate_workers``).
    children = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for child in children:
        with contextlib.suppress(Exception):
            child.terminate()
