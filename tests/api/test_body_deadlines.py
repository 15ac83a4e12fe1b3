"""Every request body has deadlines (issue 13): an idle timeout (no byte for
``ASSET_UPLOAD_IDLE_TIMEOUT`` seconds) and a total one (``ASSET_BODY_DEADLINE_FLOOR`` plus the
declared size at ``ASSET_BODY_MIN_RATE``). Past either: a 408 problem where a response is still
possible, and the connection closed. Sent over raw sockets to a real Hypercorn with deadlines of
about a second; the only pauses are the ones a slow client makes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest
import trio

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from tests.conftest import start_server

from .helpers import BOUNDARY, PROBLEM_JSON, TEXT_BYTES, file_part, multipart

IDLE = 1.0
FLOOR = 1.5
#: bytes per second: a 2 000-byte body gets FLOOR + 0.2 s
MIN_RATE = 10_000
#: no test waits longer than this for an answer (a missing deadline fails, never hangs)
PATIENCE = 15


@pytest.fixture
async def slow_url(engine: AssetEngine, settings: Settings, nursery: trio.Nursery) -> str:
    strict = replace(
        settings, upload_idle_timeout=IDLE, body_deadline_floor=FLOOR, body_min_rate=MIN_RATE
    )
    return await start_server(nursery, engine, strict)


@contextlib.asynccontextmanager
async def connection(base_url: str) -> AsyncIterator[trio.SocketStream]:
    parts = urlsplit(base_url)
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        yield stream


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer_then_close(stream: trio.SocketStream) -> httpx.Response:
    """The answer, read until the server closes the connection (which it must)."""
    received = bytearray()
    with trio.fail_after(PATIENCE):
        while chunk := await stream.receive_some():
            received += chunk
    status_line, _, rest = bytes(received).partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = [
        tuple(part.strip() for part in line.split(":", 1))
        for line in header_block.decode("latin-1").split("\r\n")
        if ":" in line
    ]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=content)


def assert_timeout(response: httpx.Response) -> None:
    assert response.status_code == 408, response.content
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = json.loads(response.content)
    assert problem["status"] == 408 and "body" in problem["detail"], problem


async def test_a_json_body_that_stops_is_answered_408_and_closed(
    slow_url, auth, create_asset, leftovers
):
    asset = await create_asset()
    await leftovers.snapshot()
    async with connection(slow_url) as stream:
        headers = {**auth(), "Content-Type": "application/json", "Content-Length": "1000"}
        await stream.send_all(head("PUT", f"/api/assets/{asset['asset_id']}", headers))
        await stream.send_all(b'{"title":"')
        assert_timeout(await answer_then_close(stream))
    await leftovers.assert_clean()


async def trickle(stream: trio.SocketStream, data: bytes, pause: float) -> None:
    """A byte at a time, ``pause`` seconds apart, until sent or the server hangs up."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        for byte in data:
            await stream.send_all(bytes([byte]))
            await trio.sleep(pause)


async def trickled(base_url: str, request_head: bytes, body: bytes) -> httpx.Response:
    """Send the head, then the body a byte every 0.4 s (never idle for ``IDLE`` seconds, far
    below ``MIN_RATE``); the answer, once the server has closed the connection."""
    async with connection(base_url) as stream:
        await stream.send_all(request_head)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle, stream, body, 0.4)
            response = await answer_then_close(stream)
            nursery.cancel_scope.cancel()
    return response


async def test_a_trickled_multipart_upload_hits_its_total_deadline(slow_url, auth, leftovers):
    body = multipart([file_part(TEXT_BYTES[:500])])
    assert len(body) < 2000
    headers = {
        **auth(),
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(body)),
    }
    assert_timeout(await trickled(slow_url, head("POST", "/api/assets/upload", headers), body))
    await leftovers.assert_clean()


async def test_a_trickled_chunked_body_hits_the_floor(slow_url, auth, create_asset, leftovers):
    asset = await create_asset()
    await leftovers.snapshot()
    headers = {**auth(), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    body = b"".join(b"1\r\n" + bytes([byte]) + b"\r\n" for byte in b'{"title": "slow"}')
    path = f"/api/assets/{asset['asset_id']}"
    assert_timeout(await trickled(slow_url, head("PUT", path, headers), body))
    await leftovers.assert_clean()


TUS = {"Tus-Resumable": "1.0.0"}


async def test_a_tus_patch_that_stops_is_answered_408_and_closed(slow_url, auth):
    async with httpx.AsyncClient(base_url=slow_url) as client:
        created = await client.post(
            "/api/uploads/", headers={**auth(), **TUS, "Upload-Length": str(len(TEXT_BYTES))}
        )
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        async with connection(slow_url) as stream:
            headers = {
                **auth(),
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
                "Content-Length": str(len(TEXT_BYTES)),
            }
            await stream.send_all(head("PATCH", location, headers))
            await stream.send_all(TEXT_BYTES[:10])
            assert_timeout(await answer_then_close(stream))
        # the upload goes on from what was received (tus), and completes
        progress = await client.head(location, headers={**auth(), **TUS})
        offset = int(progress.headers["Upload-Offset"])
        assert offset <= 10
        rest = await client.patch(
            location,
            headers={
                **auth(),
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
            },
            content=TEXT_BYTES[offset:],
        )
        assert rest.status_code == 204, rest.text


async def test_a_body_within_its_deadlines_is_taken(slow_url, auth):
    """A slow but steady client within the deadlines is served as usual."""
    async with httpx.AsyncClient(base_url=slow_url) as client:
        response = await client.post(
            "/api/assets/upload",
            headers=auth(),
            files={"file": ("notes.txt", TEXT_BYTES, "text/plain")},
        )
        assert response.status_code == 201, response.text
