"""Request bodies have backpressure (docs/decisions.md: "Quart's request body has no backpressure").

``BoundedASGIHTTPConnection`` stops taking body messages from Hypercorn while ``HIGH_WATER``
bytes wait in the request's ``BoundedBody``; ``peak_buffered`` records the most that ever
waited. An upload far larger than the buffer, into a deliberately slow consumer, must keep that
peak small. This is the guard for the quart / quart-trio / hypercorn internals that
``asset_service/http/_bounded_body.py`` subclasses: an upgrade that breaks it fails here.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import request
from quart_trio.asgi import TrioASGIHTTPConnection

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from asset_service.engine.upload_actor import UploadActor
from asset_service.http import create_app
from asset_service.http._bounded_body import HIGH_WATER, BoundedBody

from .conftest import UPLOAD
from .helpers import BOUNDARY, TEXT_BYTES, multipart_type

MiB = 1024 * 1024
UPLOAD_SIZE = 48 * MiB
#: the most the body buffer may hold: the high-water mark plus one message in flight
BOUND = HIGH_WATER + MiB
#: the slow consumer's speed, far below a loopback client's
CONSUMER_BYTES_PER_SECOND = 32 * MiB


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_upload_bytes=64 * MiB)


@pytest.fixture
def slow_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    receive = UploadActor._receive

    async def slow_receive(self, session, data) -> None:  # type: ignore[no-untyped-def]
        await trio.sleep(len(data) / CONSUMER_BYTES_PER_SECOND)
        await receive(self, session, data)

    monkeypatch.setattr(UploadActor, "_receive", slow_receive)


class Server:
    def __init__(self, base_url: str, bodies: list[object]) -> None:
        self.base_url = base_url
        #: the request body of every request served
        self.bodies = bodies


async def serve_app(nursery: trio.Nursery, engine: AssetEngine, settings: Settings, **attrs):
    app = create_app(engine, settings)
    for name, value in attrs.items():
        setattr(app, name, value)
    bodies: list[object] = []

    @app.before_request
    async def keep_body() -> None:
        bodies.append(request.body)

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    binds = await nursery.start(partial(serve, app, config))
    return Server(binds[0], bodies)


@pytest.fixture
async def server(engine: AssetEngine, settings: Settings, nursery: trio.Nursery) -> Server:
    return await serve_app(nursery, engine, settings)


def upload_body(size: int) -> tuple[AsyncIterator[bytes], int, str]:
    """A multipart body streamed in 64 KiB pieces (never held whole), its length and the
    sha256 of its file."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    piece = (TEXT_BYTES * (64 * 1024 // len(TEXT_BYTES) + 1))[: 64 * 1024]
    count, rest = divmod(size, len(piece))
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(piece)
    digest.update(piece[:rest])

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        for _ in range(count):
            yield piece
        yield piece[:rest]
        yield tail

    return chunks(), len(head) + size + len(tail), digest.hexdigest()


async def send_upload(base_url: str, headers: dict[str, str], *, with_length: bool):
    content, length, checksum = upload_body(UPLOAD_SIZE)
    headers = {**headers, "Content-Type": multipart_type()}
    if with_length:
        headers["Content-Length"] = str(length)  # else httpx sends it chunked
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        response = await client.post(UPLOAD, headers=headers, content=content)
    return response, checksum


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_large_upload_into_a_slow_consumer_stays_bounded(
    server, auth, slow_consumer, with_length
):
    response, checksum = await send_upload(server.base_url, auth(), with_length=with_length)

    assert response.status_code == 201, response.text
    assert response.json()["size"] == UPLOAD_SIZE
    assert response.json()["checksum"] == checksum
    (body,) = server.bodies
    assert isinstance(body, BoundedBody)
    assert 0 < body.peak_buffered <= BOUND, f"buffered up to {body.peak_buffered} bytes"


async def test_the_measurement_sees_an_unbounded_buffer(
    engine, settings, nursery, auth, slow_consumer
):
    """Control: with quart-trio's own connection class (no backpressure) the same upload
    piles up in the buffer — so the bound above is the fix's doing, not the measurement's."""
    server = await serve_app(nursery, engine, settings, asgi_http_class=TrioASGIHTTPConnection)
    response, checksum = await send_upload(server.base_url, auth(), with_length=True)

    assert response.status_code == 201, response.text
    assert response.json()["checksum"] == checksum
    (body,) = server.bodies
    assert isinstance(body, BoundedBody)
    assert body.peak_buffered > 2 * BOUND, f"buffered only up to {body.peak_buffered} bytes"


async def test_hypercorn_reads_the_socket_in_larger_pieces(server):
    """``tune_hypercorn`` raises a module constant of Hypercorn (pinned): an upgrade that
    renames it must be noticed, or uploads silently lose ~40 % of their speed."""
    from hypercorn.trio import tcp_server

    from asset_service.http._bounded_body import RECEIVE_SIZE

    assert tcp_server.MAX_RECV >= RECEIVE_SIZE
