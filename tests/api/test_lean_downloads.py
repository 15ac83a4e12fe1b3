"""The lean download path (``lean_download``) answers exactly as the Quart route does: one
matrix of download requests sent to an app with the lean path and to one without it (same
engine, real Hypercorn each), comparing status, headers (all but Date, in order) and body —
and checking which requests the lean path took and which it handed to Quart."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from asset_service.http import create_app
from asset_service.http.lean_download import LEAN_KEY, LeanDownloads, plain_query
from tests.conftest import with_settings

from .helpers import sha256, signed_query

SMALL = (b"0123456789abcdef" * 64)[:1000]
#: several read chunks (the stores read 1 MiB at a time at most)
LARGE = b"".join(b"line %07d of a text several read chunks long\n" % i for i in range(70_000))
ORIGIN = "http://localhost:5173"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # CORS on: the lean path must add what the Quart hook adds; a file far larger than the
    # socket buffers for a client that leaves
    return with_settings(
        settings, cors_origins=("http://localhost:*",), max_upload_bytes=64 * 1024 * 1024
    )


async def _serve(nursery: trio.Nursery, app) -> str:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    return (await nursery.start(partial(serve, app, config)))[0]


@dataclass
class Case:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    lean: bool = True  # whether the lean path answers it (else it hands it to Quart)


def _headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [(n.lower(), v) for n, v in response.headers.raw if n.lower() != b"date"]


async def test_the_lean_path_answers_as_the_quart_route(
    engine: AssetEngine, settings: Settings, nursery: trio.Nursery, client, auth, create_asset
):
    now = time.time()
    clock = lambda: now  # noqa: E731 — one instant: a link's max-age is the same for both
    lean_app = create_app(engine, settings, clock=clock)
    lean: LeanDownloads = lean_app.extensions[LEAN_KEY]
    lean_url = await _serve(nursery, lean_app)
    quart_url = await _serve(
        nursery, create_app(engine, settings, clock=clock, lean_downloads=False)
    )

    small = await create_asset(SMALL, "data.txt")
    large = await create_asset(LARGE, "big.txt")
    public = await create_asset(SMALL, "open.txt", visibility="public")
    gone = await create_asset(SMALL, "gone.txt")
    svg = await create_asset(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', "pic.svg"
    )

    async def link(asset: dict, query: str = "") -> str:
        answer = await client.get(f"/api/assets/{asset['asset_id']}/url{query}", headers=auth())
        assert answer.status_code == 200, answer.text
        return answer.json()["url"]

    pinned, current, inline_link = await link(small, "?version=1"), await link(small), None
    inline_link = await link(small, "?inline=1")
    gone_link = await link(gone)
    deleted = await client.delete(f"/api/assets/{gone['asset_id']}", headers=auth())
    assert deleted.status_code == 204
    secret = settings.url_signing_secret
    expired = signed_query(secret, small["asset_id"], None, int(now) - 10)
    head = await client.head(f"/api/assets/{small['asset_id']}/download", headers=auth())
    etag, modified = head.headers["ETag"], head.headers["Last-Modified"]

    s, big = (
        f"/api/assets/{small['asset_id']}/download",
        f"/api/assets/{large['asset_id']}/download",
    )
    bearer = auth()
    other = auth(customer="globex")
    cases = [
        Case("whole", s, bearer),
        Case("head", s, bearer, "HEAD"),
        Case("large whole", big, bearer),
        Case("large range across chunks", big, {**bearer, "Range": "bytes=1000000-2200000"}),
        Case("range", s, {**bearer, "Range": "bytes=0-99"}),
        Case("head range", s, {**bearer, "Range": "bytes=0-99"}, "HEAD"),
        Case("suffix range", s, {**bearer, "Range": "bytes=-300"}),
        Case("open range", s, {**bearer, "Range": "bytes=900-"}),
        Case("clamped range", s, {**bearer, "Range": "bytes=10-99999999"}),
        Case("several ranges: whole", s, {**bearer, "Range": "bytes=0-1,5-6"}),
        Case("other unit: whole", s, {**bearer, "Range": "items=0-1"}),
        Case("416 past the end", s, {**bearer, "Range": "bytes=5000-"}, lean=False),
        Case("416 malformed", s, {**bearer, "Range": "bytes=abc"}, lean=False),
        Case("If-None-Match 304", s, {**bearer, "If-None-Match": etag}),
        Case("If-None-Match other", s, {**bearer, "If-None-Match": '"other"'}),
        Case("If-Modified-Since 304", s, {**bearer, "If-Modified-Since": modified}),
        Case("If-Range match", s, {**bearer, "Range": "bytes=5-9", "If-Range": etag}),
        Case("If-Range mismatch", s, {**bearer, "Range": "bytes=5-9", "If-Range": '"x"'}),
        Case("If-Range date", s, {**bearer, "Range": "bytes=5-9", "If-Range": modified}),
        Case("inline", s + "?inline=1", bearer),
        Case("inline svg", f"/api/assets/{svg['asset_id']}/download?inline=1", bearer),
        Case("version", s + "?version=1", bearer),
        Case("missing version", s + "?version=7", bearer, lean=False),
        Case("bad version", s + "?version=x", bearer, lean=False),
        Case("redirect", s + "?redirect=1", bearer, lean=False),
        Case("unknown parameter", s + "?cache=1", bearer, lean=False),
        Case("encoded value", s + "?inline=%31", bearer, lean=False),
        Case("CORS origin", s, {**bearer, "Origin": ORIGIN}),
        Case("CORS 304", s, {**bearer, "Origin": ORIGIN, "If-None-Match": etag}),
        Case("CORS other origin", s, {**bearer, "Origin": "https://evil.example"}),
        Case("bad token 401", s, {"Authorization": "Bearer nope"}, lean=False),
        Case("no token 401", s, {}, lean=False),
        Case("other customer 404", s, other, lean=False),
        Case("not a uuid", "/api/assets/nope/download", bearer, lean=False),
        Case("public, anonymous", f"/api/assets/{public['asset_id']}/download"),
        Case("public, other customer", f"/api/assets/{public['asset_id']}/download", other),
        Case("signed pinned", pinned),
        Case("signed pinned range", pinned, {"Range": "bytes=3-5"}),
        Case("signed current", current),
        Case("signed current 304", current, {"If-None-Match": etag}),
        Case("signed inline", inline_link),
        Case("signed inline dropped", inline_link.replace("inline=1&", ""), lean=False),
        Case("signed tampered", current[:-1] + ("0" if current[-1] != "0" else "1"), lean=False),
        Case("signed expired", f"{s}?{expired}", lean=False),
        Case("signed expired, media", f"{s}?{expired}", {"Range": "bytes=0-"}, lean=False),
        Case("deleted, token", f"/api/assets/{gone['asset_id']}/download", bearer, lean=False),
        Case("deleted, signed link", gone_link, lean=False),
    ]
    async with (
        httpx.AsyncClient(base_url=lean_url, timeout=30) as to_lean,
        httpx.AsyncClient(base_url=quart_url, timeout=30) as to_quart,
    ):
        for case in cases:
            before = lean.served
            fast = await to_lean.request(case.method, case.path, headers=case.headers)
            assert lean.served - before == int(case.lean), case.name
            slow = await to_quart.request(case.method, case.path, headers=case.headers)
            assert fast.status_code == slow.status_code, case.name
            assert _headers(fast) == _headers(slow), case.name
            assert fast.content == slow.content, case.name
        whole = await to_lean.get(big, headers=bearer)
        assert sha256(whole.content) == sha256(LARGE)
        await to_quart.get(big, headers=bearer)
        # Both apps counted the same requests, under the same labels, and the same bytes.
        counted = [_download_series((await c.get("/metrics")).text) for c in (to_lean, to_quart)]
    assert counted[0] == counted[1]
    assert any('status="206"' in line for line in counted[0])


def _download_series(exposition: str) -> list[str]:
    return sorted(
        line
        for line in exposition.splitlines()
        if line.startswith(("asset_http_requests_total{", "asset_download_bytes_total"))
        and ("download" in line or line.startswith("asset_download_bytes"))
    )


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        (b"", {}),
        (b"inline=1", {"inline": "1"}),
        (b"version=2&expires=9&epoch=0&signature=ab12", None),  # (asserted below)
        (b"inline=", {"inline": ""}),
        (b"inline", None),
        (b"inline=1&inline=0", None),
        (b"inline=%31", None),
        (b"inline=a+b", None),
        (b"redirect=1", None),
        (b"x=1", None),
        (b"inline=1&", None),
        (b"inline=\xff", None),
    ],
)
def test_the_lean_path_reads_only_queries_it_reads_as_werkzeug_does(raw, read):
    if raw.startswith(b"version"):
        read = {"version": "2", "expires": "9", "epoch": "0", "signature": "ab12"}
    assert plain_query(raw) == read


def _open_blob_descriptors() -> int:
    """Descriptors of this process open on a blob file (the server runs in this process)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if "/blobs/" in os.readlink(f"/proc/self/fd/{fd}"):
                count += 1
    return count


async def _leave_after_the_head(base_url: str, path: str, headers: dict[str, str]) -> bytes:
    """GET ``path``, read the first bytes of the answer, and hang up."""
    parts = urlsplit(base_url)
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    async with stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await stream.receive_some(4096)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
@pytest.mark.parametrize("watched", [True, False], ids=["watched-body", "small-body"])
async def test_a_client_that_leaves_mid_download_stops_the_read(
    engine: AssetEngine, settings: Settings, nursery: trio.Nursery, auth, create_asset, watched
):
    """Above ``UNWATCHED_BODY`` a task watches for the client to leave and stops reading the
    blob (far fewer bytes counted than the file holds); below it the rest of the answer is
    sent to the closed connection, which Hypercorn drops. Either way the request ends, the
    blob's descriptor is closed, and the server goes on answering."""
    app = create_app(engine, settings)
    lean: LeanDownloads = app.extensions[LEAN_KEY]
    url = await _serve(nursery, app)
    size = 48 * 1024 * 1024 if watched else 1024 * 1024
    content = b"0123456 abcdefghijklmnopqrstuvw\n" * (size // 32)
    asset = await create_asset(content, "long.txt")
    path = f"/api/assets/{asset['asset_id']}/download"
    before = _open_blob_descriptors()
    head = await _leave_after_the_head(url, path, auth())
    assert head.startswith(b"HTTP/1.1 200 "), head[:100]
    assert lean.served == 1
    with trio.fail_after(10):
        while _open_blob_descriptors() > before:  # noqa: ASYNC110 - polls the server's state
            await trio.sleep(0.02)
    async with httpx.AsyncClient(base_url=url) as client:
        counted = _download_series((await client.get("/metrics")).text)
    sent = next(float(line.split()[-1]) for line in counted if line.startswith("asset_download"))
    if watched:
        assert sent < size / 2  # stopped long before the end (socket buffers hold a few MiB)
    else:
        # At most the body: what was handed to Hypercorn after the client left is dropped by
        # it (how much of it the counter saw depends on when the store's read ended).
        assert sent <= size
    # and the server goes on answering
    async with httpx.AsyncClient(base_url=url) as client:
        again = await client.get(path, headers={**auth(), "Range": "bytes=0-31"})
    assert again.status_code == 206 and again.content == content[:32]
