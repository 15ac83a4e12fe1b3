"""The local spool: an upload's bytes written to a local file while they arrive, for stores whose
blobs are not local files (S3), so that inspection reads them there and never downloads the
object again.

A spool file is ``{spool_dir}/{temp_key}`` (the upload session's own key); every disk call runs
in a worker thread on the spool's limiter. The upload actor removes it when the session ends,
whatever the outcome (shielded); files a crashed process left behind are swept by age — at the
upload actor's start and by every cleanup pass — except the keys this process is writing.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any

import trio

logger = logging.getLogger(__name__)

#: spool files written or read at once (disk calls in worker threads)
SPOOL_THREADS = 8


def default_spool_dir() -> Path:
    """Where an engine configured without a data directory (tests, embedding) spools."""
    return Path(tempfile.gettempdir()) / "asset-service-spool"


class Spool:
    """One upload's local copy. ``write`` also feeds the upload's hasher in the same worker
    thread: one thread hop per chunk for both."""

    def __init__(self, path: Path, file: IO[bytes], limiter: trio.CapacityLimiter) -> None:
        self.path = path
        self._file: IO[bytes] | None = file
        self._limiter = limiter
        self.size = 0

    @classmethod
    async def create(cls, directory: Path, name: str, limiter: trio.CapacityLimiter) -> Spool:
        def open_new() -> tuple[Path, IO[bytes]]:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            return path, path.open("xb")

        path, file = await trio.to_thread.run_sync(open_new, limiter=limiter)
        return cls(path, file, limiter)

    async def write(self, data: bytes, hasher: Any) -> None:
        file = self._file
        if file is None:
            raise RuntimeError("the spool is closed")

        def absorb() -> None:
            # hashlib releases the GIL on large buffers, and so does the write.
            hasher.update(data)
            file.write(data)

        await trio.to_thread.run_sync(absorb, limiter=self._limiter)
        self.size += len(data)

    async def finish(self) -> Path:
        """Close the file for writing; returns its path, for inspectors that read it."""
        file, self._file = self._file, None
        if file is not None:
            await trio.to_thread.run_sync(file.close, limiter=self._limiter)
        return self.path

    async def remove(self) -> None:
        """Close and delete the file (shielded: it runs on the way out of a cancelled upload)."""
        file, self._file = self._file, None

        def remove() -> None:
            if file is not None:
                file.close()
            self.path.unlink(missing_ok=True)

        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(remove, limiter=self._limiter)


def _sweep(directory: Path, older_than: float, keep: Collection[str]) -> int:
    cutoff = time.time() - older_than
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name in keep or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                continue  # being written, maybe by another worker sharing the directory
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed += 1
    return removed


async def sweep_spool(
    directory: Path, older_than: float, keep: Collection[str] = (), *, limiter: Any = None
) -> int:
    """Remove spool files not modified for ``older_than`` seconds, except those named in
    ``keep``; returns how many. Age, not this process's registry alone, decides: the workers
    of one host share the directory."""
    removed = await trio.to_thread.run_sync(_sweep, directory, older_than, keep, limiter=limiter)
    if removed:
        logger.info("removed %d stale spool file(s) from %s", removed, directory)
    return removed
