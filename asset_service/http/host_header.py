"""The ``Host`` header is the client's to choose and the service builds nothing from it (links
use ``ASSET_PUBLIC_URL`` or are relative). Werkzeug still reads it to bind the URL map and
raises ``BadHost`` — outside every error handler, so a 500 — for a name IDNA can't encode (a
label over 63 characters, ``a..b``). This middleware hands such a request on with the address
the server listens on instead, so it is answered as usual."""

from __future__ import annotations

from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable


def bindable(host: bytes) -> bool:
    """Whether werkzeug's ``Map.bind`` accepts this ``Host`` (what it checks: IDNA, not port)."""
    name = host.decode("latin-1").lower().partition(":")[0]
    try:
        name.encode("idna")
    except UnicodeError:
        return False
    return True


class HostHeaderGuard:
    """ASGI middleware: a ``Host`` werkzeug can't bind is replaced by the server's address."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope.get("type") in ("http", "websocket"):
            headers = scope.get("headers") or []
            if any(name == b"host" and not bindable(value) for name, value in headers):
                server = scope.get("server") or ("localhost", None)
                address = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
                replaced = [(n, address.encode() if n == b"host" else v) for n, v in headers]
                scope = {**scope, "headers": replaced}
        await self.app(scope, receive, send)
