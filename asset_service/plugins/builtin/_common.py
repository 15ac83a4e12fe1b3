"""Small helpers the built-in plugins share."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: longest text value (a tag, a title) kept in ``extracted``
MAX_TEXT = 500


def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A metadata string fit for JSON and a UI: no NULs or other control characters, trimmed,
    cut to ``limit`` characters; ``None`` when nothing is left."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() or ch in "\t\n" else " " for ch in str(value)).strip()
    return text[:limit] or None


def reason_of(error: BaseException, path: Path) -> str:
    """An exception's message as a user may read it: without the server's file paths."""
    message = str(error) or type(error).__name__
    return message.replace(str(path), "the file").replace(path.name, "the file")[:300]


def file_identity(path: Path) -> tuple[str, int, int, int]:
    stat = path.stat()
    return (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


class ResultCache(Generic[T]):
    """What ``validate`` found about a file, kept for ``extract_metadata`` of the same upload
    (both run once per upload, in that order) so that slow work — ffprobe, a pass over a large
    text — runs once. Bounded; thread-safe; keyed by the file's identity, so a changed file is
    looked at again."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int, int], T] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, path: Path, compute: Callable[[Path], T]) -> T:
        key = file_identity(path)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute(path)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
