"""``Range`` requests on one representation (RFC 9110 §14), with nginx's answers as the
reference for the edge cases (docs/decisions.md): clamped ends, suffix ranges longer than the file,
416 with ``bytes */SIZE`` for unsatisfiable or malformed byte ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*([0-9]*)\s*-\s*([0-9]*)\s*$")
#: a position with more digits is past the end of any file (and ``int`` would be slow on it)
_MAX_DIGITS = 18


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to serve, or ``None`` to serve the whole body with 200 (no header, another
    unit, or several ranges — multi-range answers are not built yet). Raises
    ``RangeNotSatisfiable`` for a malformed byte range or one that starts past the end."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _SPEC.match(spec)
    if match is None:
        raise RangeNotSatisfiable(f"malformed range {header!r}")
    first, last = match.groups()
    if first == "" and last == "":
        raise RangeNotSatisfiable(f"malformed range {header!r}")
    if len(first) > _MAX_DIGITS:
        raise RangeNotSatisfiable(f"range starts at or past the end ({size} bytes)")
    if len(last) > _MAX_DIGITS:
        last = str(10**_MAX_DIGITS)  # "to the end", as nginx clamps any huge end
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable("a suffix range of zero bytes")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at or past the end ({size} bytes)")
    end = int(last) if last else size - 1
    if end < start:
        raise RangeNotSatisfiable(f"range end before its start in {header!r}")
    return ByteRange(start, min(end, size - 1))
