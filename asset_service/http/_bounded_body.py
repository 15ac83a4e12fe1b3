"""Request bodies with backpressure.

Quart copies every ASGI body message into an unbounded buffer, so a handler that consumes
slower than the client sends lets memory grow with the upload (measured: 430 MiB RSS for a
200 MiB upload, FIELD-NOTES). Here the connection stops calling ``receive()`` while more than
``HIGH_WATER`` bytes wait in the buffer; Hypercorn's bounded app queue then stops reading the
socket, and TCP slows the client down.

This subclasses quart-trio internals (written against quart 0.22.0, quart-trio 0.12.0,
hypercorn 0.18.0, trio 0.35.0 — pinned in pyproject.toml). ``tests/api/test_backpressure.py``
uploads far more than the buffer while reading slowly and checks the buffer stays bounded, so an
upgrade that breaks this is caught.
"""

from __future__ import annotations

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent
from quart.wrappers import Request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest

HIGH_WATER = 1024 * 1024


class BoundedBody(TrioBody):
    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._drained = trio.Event()
        self._released = False
        #: the most bytes ever waiting in the buffer (for the backpressure test)
        self.peak_buffered = 0

    def append(self, data: bytes) -> None:
        if self._released:
            return  # the response is complete: nothing will ever read this
        super().append(data)
        self.peak_buffered = max(self.peak_buffered, len(self._data))

    def release(self) -> None:
        """The response is complete and nothing will read the rest of the body: stop holding
        the client back, and drop what it still sends."""
        self._released = True
        self._data.clear()
        self._drained.set()

    async def wait_for_room(self) -> None:
        while (
            len(self._data) >= HIGH_WATER
            and not self._complete.is_set()
            and self._must_raise is None
            and not self._released
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
    #: set once the view's last response message is being sent
    _response_complete = False

    async def handle_request(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, send: ASGISendCallable
    ) -> None:
        # A view may answer before it has read the whole body (an error mid-upload). Hypercorn
        # delivers ``http.disconnect`` on its bounded app queue when the response ends; if
        # ``handle_messages`` were still waiting for room in a full buffer nobody reads, that
        # queue would stay full and the response, the request and the connection would hang
        # for good. Release the body just before the last response message.
        body = request.body

        async def send_releasing(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._response_complete = True
                if isinstance(body, BoundedBody):
                    body.release()
            await send(message)

        await super().handle_request(nursery, request, send_releasing)

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
        # Hypercorn reports ``http.disconnect`` from inside the response's last ``send`` and
        # then closes or recycles the connection in that same call: cancelling it there (as
        # quart-trio does) would leave finished connections open forever, keep-alive timeouts
        # dead and a SIGTERM waiting out graceful_timeout. Only a disconnect before the
        # response is complete means the client left, and stops the view.
        if not self._response_complete:
            nursery.cancel_scope.cancel()
