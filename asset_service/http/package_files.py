"""Small files shipped inside the package (the console, the GraphQL page): read once, off the
event loop, then answered from memory. A few hundred KiB in all, so keeping them costs less
than a thread per request."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

import trio


class PackageFiles:
    def __init__(self, package: str, directory: str) -> None:
        self._root: Traversable = resources.files(package).joinpath(directory)
        self._read: dict[tuple[str, ...], bytes] = {}

    async def read(self, *parts: str) -> bytes | None:
        """The file at ``parts`` under the directory, or ``None`` when there is none. The
        caller has checked ``parts`` (no ``..``, no hidden names)."""
        if parts in self._read:
            return self._read[parts]
        content = await trio.to_thread.run_sync(self._read_file, parts)
        if content is not None:  # misses are not kept: their names come from anyone
            self._read[parts] = content
        return content

    def _read_file(self, parts: tuple[str, ...]) -> bytes | None:
        target = self._root.joinpath(*parts)
        return target.read_bytes() if target.is_file() else None
