"""Request bodies with backpressure.

Quart copies every ASGI body message into an unbounded buffer, so a handler that consumes
slower than the client sends lets memory grow with the upload (measured: 430 MiB RSS for a
200 MiB upload; docs/decisions.md). Here the connection stops calling ``receive()`` while more than
``HIGH_WATER`` bytes wait in the buffer; Hypercorn's bounded app queue then stops reading the
socket, and TCP slows the client down.

This subclasses quart-trio internals (written against quart 0.22.0, quart-trio 0.12.0,
hypercorn 0.18.0, trio 0.35.0 — pinned in pyproject.toml). ``tests/api/test_backpressure.py``
uploads far more than the buffer while reading slowly and checks the buffer stays bounded, so an
upgrade that breaks this is caught.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent
from quart.wrappers import Request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest
from werkzeug.exceptions import RequestEntityTooLarge

from .problems import HTTPProblem

HIGH_WATER = 1024 * 1024
#: bytes Hypercorn asks the socket for at once. Its default, 64 KiB, sends a 1 GiB upload
#: through h11, Hypercorn, Quart and the multipart parser 16 384 times; at 256 KiB the upload
#: path was measured 40 % faster for 20 % less CPU (bench/, BENCHMARKS.md). 1 MiB gained a
#: little more but raised the server's peak RSS during a 2 GiB upload from ~77 to ~95 MiB.
RECEIVE_SIZE = 256 * 1024


#: where the app keeps its ``BodyDeadlines`` (``app.config``)
BODY_DEADLINES = "ASSET_BODY_DEADLINES"


@dataclass(frozen=True, slots=True)
class BodyDeadlines:
    """How long a request body may take: ``idle`` seconds without a byte, and in all
    ``floor`` seconds plus its size at ``min_rate`` bytes per second (the declared size, or
    for a chunked body what it sent so far). Time the service itself held the client back
    (backpressure) does not count."""

    idle: float = 60.0
    floor: float = 60.0
    min_rate: float = 32 * 1024

    def total(self, size: int) -> float:
        return self.floor + size / self.min_rate


class BoundedBody(TrioBody):
    """Quart's body with two changes: the connection waits for room before taking more
    (``wait_for_room``), and chunks are kept as received and handed out joined, instead of
    being copied into a bytearray and out again (two copies of every byte, measured as a
    quarter of the upload path's CPU)."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._drained = trio.Event()
        self._released = False
        self._awaited_whole = False
        #: the most bytes ever waiting in the buffer (for the backpressure test)
        self.peak_buffered = 0
        self._expected = expected_content_length
        self._received = 0
        self._started = trio.current_time()
        #: seconds the connection waited for the view to make room (not the client's fault)
        self._held_back = 0.0
        self.deadlines: BodyDeadlines | None = None
        #: set when a deadline passed: the answer closes the connection
        self.timed_out = False

    def append(self, data: bytes) -> None:
        if data == b"" or self._must_raise is not None or self._released:
            return  # after release the response is complete: nothing will read this
        self._chunks.append(data)
        self._received += len(data)
        self._buffered += len(data)
        self.peak_buffered = max(self.peak_buffered, self._buffered)
        self._has_data.set()
        if self._max_content_length is not None and self._buffered > self._max_content_length:
            self._must_raise = RequestEntityTooLarge()
            self.set_complete()

    def clear(self) -> None:
        self._chunks = []
        self._buffered = 0

    def release(self) -> None:
        """The response is complete and nothing will read the rest of the body: stop holding
        the client back, and drop what it still sends."""
        self._released = True
        self.clear()
        self._drained.set()

    async def wait_for_room(self) -> None:
        while (
            self._buffered >= HIGH_WATER
            and not self._complete.is_set()
            and self._must_raise is None
            and not self._released
            and not self._awaited_whole
        ):
            self._drained = trio.Event()
            paused_at = trio.current_time()
            await self._drained.wait()
            self._held_back += trio.current_time() - paused_at

    def _deadline(self) -> float:
        """When the client must have sent more (or all) of the body, from now."""
        if self.deadlines is None:
            return math.inf
        size = self._expected if self._expected is not None else self._received
        total = self._started + self._held_back + self.deadlines.total(size)
        return min(trio.current_time() + self.deadlines.idle, total)

    def _timeout(self) -> HTTPProblem:
        self.timed_out = True
        idle = self.deadlines.idle if self.deadlines is not None else math.inf
        return HTTPProblem(
            408,
            "Request timeout",
            f"the request body was too slow: no byte for {idle:g} seconds, or not all of it "
            "within its deadline (see ASSET_UPLOAD_IDLE_TIMEOUT, ASSET_BODY_DEADLINE_FLOOR, "
            "ASSET_BODY_MIN_RATE)",
            {"Connection": "close"},
        )

    async def _wait_for_data(self) -> None:
        with trio.move_on_at(self._deadline()):
            await self._has_data.wait()
            return
        raise self._timeout()

    async def _wait_for_whole(self) -> None:
        while not self._complete.is_set():
            received = self._received
            with trio.move_on_at(self._deadline()):
                await self._complete.wait()
                return
            if self._received == received or trio.current_time() >= self._deadline():
                raise self._timeout()

    async def __anext__(self) -> bytes:
        if self._must_raise is not None:
            raise self._must_raise
        if not self._complete.is_set():
            await self._wait_for_data()
        if self._complete.is_set() and self._buffered == 0:
            raise StopAsyncIteration()
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self.clear()
        self._has_data.clear()
        self._drained.set()
        return data

    def __await__(self) -> Generator[Any, None, Any]:
        # Awaiting the whole body (``get_data``) buffers it by definition: no backpressure,
        # or the connection would wait for room that only the end of the body makes.
        # ``context.json_body`` iterates with a size cap instead.
        self._awaited_whole = True
        self._drained.set()
        if self._must_raise is not None:
            raise self._must_raise
        yield from self._wait_for_whole().__await__()
        if self._must_raise is not None:
            raise self._must_raise
        return b"".join(self._chunks)


class BoundedRequest(TrioRequest):
    body_class = BoundedBody


class BoundedASGIHTTPConnection(TrioASGIHTTPConnection):
    #: set once the view's last response message is being sent
    _response_complete = False

    def _create_request_from_scope(self, send: ASGISendCallable) -> Request:
        request = super()._create_request_from_scope(send)
        if isinstance(request.body, BoundedBody):
            request.body.deadlines = self.app.config.get(BODY_DEADLINES)
        return request

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


def tune_hypercorn() -> None:
    """Raise Hypercorn's receive size (``hypercorn.trio.tcp_server.MAX_RECV``, a module
    constant read at every receive) to ``RECEIVE_SIZE``. Process-wide and idempotent;
    ``tests/api/test_backpressure.py`` checks that the constant still exists."""
    from hypercorn.trio import tcp_server

    if getattr(tcp_server, "MAX_RECV", None) is not None:
        tcp_server.MAX_RECV = max(tcp_server.MAX_RECV, RECEIVE_SIZE)
