"""Which browser origins may call the API (``ASSET_CORS_ORIGINS``): exact origins, ``*`` for
any, or patterns where ``*`` stands for one DNS label or one port number — letters, digits and
``-``, never a ``.``, ``:`` or ``/`` — so ``http://localhost:*`` is localhost on any port and
``https://*.example.com`` any direct subdomain, while neither matches a longer host that
merely starts or ends the same way."""

from __future__ import annotations

import re

_WILDCARD = "[A-Za-z0-9-]+"


class OriginPolicy:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any_origin = "*" in origins
        cleaned = [origin.strip().rstrip("/") for origin in origins if origin.strip() != "*"]
        self._exact = frozenset(origin for origin in cleaned if "*" not in origin)
        self._patterns = [
            re.compile(
                "".join(_WILDCARD if piece == "*" else re.escape(piece) for piece in _split(o)),
                re.IGNORECASE,
            )
            for o in cleaned
            if "*" in o
        ]

    @property
    def configured(self) -> bool:
        return self.any_origin or bool(self._exact) or bool(self._patterns)

    def allows(self, origin: str) -> bool:
        if self.any_origin or origin in self._exact:
            return True
        return any(pattern.fullmatch(origin) for pattern in self._patterns)


def _split(pattern: str) -> list[str]:
    return re.split(r"(\*)", pattern)
