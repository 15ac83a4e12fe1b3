"""What the download decisions read of a request, without Quart: its headers through a
case-insensitive ``get`` (``HeaderLookup``, which Quart's ``request.headers`` already is) and,
for the lean download path, ``ScopeHeaders`` over a raw ASGI scope — answering as Quart's
headers would (the first of repeated headers, latin-1 decoded)."""

from __future__ import annotations

from typing import Protocol


class HeaderLookup(Protocol):
    def get(self, name: str) -> str | None: ...

    def __contains__(self, name: object) -> bool: ...


class ScopeHeaders:
    """An ASGI scope's headers as ``HeaderLookup``. Hypercorn gives lower-case names; the
    first of a repeated header wins, as with werkzeug's ``Headers.get``."""

    __slots__ = ("_first",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        first: dict[str, str] = {}
        for name, value in raw:
            first.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._first = first

    def get(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first
