"""A firm limit on request headers: at most ``MAX_HEADER_FIELDS`` fields and
``MAX_HEADER_BYTES`` bytes of names and values, else ``431 Request header fields too large``.

h11 refuses a request head only while it is still incomplete past 16 KiB: a head that arrives
in one socket read (up to ``RECEIVE_SIZE``, 256 KiB) is taken whole, however many or large its
headers — so without this the limit would depend on how TCP cut the bytes."""

from __future__ import annotations

import json
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable

from .problems import PROBLEM_TYPE_BASE

MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 32 * 1024
TITLE = "Request header fields too large"


def too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    if len(headers) > MAX_HEADER_FIELDS:
        return True
    return sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES


class HeaderLimit:
    """ASGI middleware: refuses requests (and WebSocket handshakes) over the limits."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket") or not too_large(scope.get("headers") or []):
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": TITLE})
            return
        body = json.dumps(
            {
                "type": PROBLEM_TYPE_BASE + "request-header-fields-too-large",
                "title": TITLE,
                "status": 431,
                "detail": f"at most {MAX_HEADER_FIELDS} header fields and "
                f"{MAX_HEADER_BYTES // 1024} KiB of them are accepted",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 431,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
