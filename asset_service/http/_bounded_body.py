"""Request bodies with backpressure.

Quart copies every ASGI body message into an unbounded buffer, so a handler that consumes
slower than the client sends lets memory grow with the upload (measured: 430 MiB RSS for a
200 MiB upload, FIELD-NOTES). Here the connection stops calling ``receive()`` while more than
``HIGH_WATER`` bytes wait in the buffer; Hypercorn's bounded app queue then stops reading the
socket, and TCP slows the client down.

This subclasses quart-trio internals (written against quart 0.22.0, quart-trio 0.12.0,
hypercorn 0.18.0, trio 0.35.0 — pinned in pyproject.toml). ``tests/http/test_backpressure.py``
uploads far more than the buffer while reading slowly and checks the buffer stays bounded, so an
upgrade that breaks this is caught.
"""

from __future__ import annotations

import trio
from hypercorn.typing import ASGIReceiveCallable
from quart.wrappers import Request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest

HIGH_WATER = 1024 * 1024


class BoundedBody(TrioBody):
    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._drained = trio.Event()
        #: the most bytes ever waiting in the buffer (for the backpressure test)
        self.peak_buffered = 0

    def append(self, data: bytes) -> None:
        super().append(data)
        self.peak_buffered = max(self.peak_buffered, len(self._data))

    async def wait_for_room(self) -> None:
        while (
            len(self._data) >= HIGH_WATER
            and not self._complete.is_set()
            and self._must_raise is None
        ):
            self._drained = trio.Event()
            await self._drained.wait()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        finally:
            self._drained.set()


class BoundedRequest(TrioRequest):
    body_class = BoundedBody


class BoundedASGIHTTPConnection(TrioASGIHTTPConnection):
    async def handle_messages(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, receive: ASGIReceiveCallable
    ) -> None:
        body = request.body
        while True:
            if isinstance(body, BoundedBody):
                await body.wait_for_room()
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                break
        nursery.cancel_scope.cancel()
