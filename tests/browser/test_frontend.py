"""A real browser as a frontend on another origin (issue 13: 10-12): headless Chromium, driven
by Playwright, runs tus-js-client (vendored: ``vendor/update.sh``) from a page served on one
127.0.0.1 port against the service on another, with ``ASSET_CORS_ORIGINS`` naming the page's
origin — so every call goes through CORS as it would from a web app.

- ``overridePatchMethod``: the PATCHes go as ``POST`` + ``X-HTTP-Method-Override``;
- ``parallelUploads: 2``: two partial uploads and a final one make one asset, with the sha256
  of the whole file, and nothing else;
- an expired signed link on a ``<video>`` fires ``error`` (so a player can fetch a new link),
  where a valid one loads.

One browser and one server for the module. Chromium is Debian's (``make test`` installs it when
run as root); without it the module skips, saying so.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import signed_query
from tests.media import FFMPEG, FFPROBE, make_video
from tests.server_process import SECRET, ServerProcess, mint_token, server_env

CHROMIUM = shutil.which("chromium")
HERE = Path(__file__).parent

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium not installed: the browser tests skip "
        "(`make test` installs Debian's chromium when run as root)",
    ),
    pytest.mark.file_store_only,
]

playwright_api = pytest.importorskip("playwright.sync_api")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The test page and tus-js-client, served from an origin of their own."""
    handler = functools.partial(_QuietHandler, directory=str(HERE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def service(page_origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = server_env(tmp_path_factory.mktemp("browser") / "data", cors_origins=page_origin)
    with ServerProcess(env) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to run as root (containers, CI)
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, page_origin: str) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(20_000)
    opened = context.new_page()
    opened.goto(f"{page_origin}/page.html")
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def token(service: ServerProcess, request: pytest.FixtureRequest) -> str:
    """An editor of a customer of this test's own, so that tests do not see each other's."""
    return mint_token(user="alice", customer=f"c{abs(hash(request.node.name)) % 10**8}")


def api(service: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=service.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def text_file(lines: int) -> str:
    return "".join(
        f"line {n:06d} of a plain text file uploaded from a browser\n" for n in range(lines)
    )


def assets_of(service: ServerProcess, token: str) -> list[dict[str, Any]]:
    with api(service, token) as client:
        listed = client.get("/api/assets/search", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def test_tus_js_client_with_override_patch_method(service, page, token):
    text = text_file(600)
    result = page.evaluate(
        "tusUpload",
        {
            "endpoint": f"{service.base_url}/api/uploads/",
            "token": token,
            "text": text,
            "filename": "override.txt",
            "options": {"overridePatchMethod": True, "chunkSize": 10_000},
        },
    )
    assert result["assetId"]
    with api(service, token) as client:
        record = client.get(f"/api/assets/{result['assetId']}").json()
    assert record["checksum"] == hashlib.sha256(text.encode()).hexdigest()
    assert record["name"] == "override.txt"


def test_tus_js_client_with_parallel_uploads_makes_one_asset(service, page, token):
    text = text_file(4000)
    result = page.evaluate(
        "tusUpload",
        {
            "endpoint": f"{service.base_url}/api/uploads/",
            "token": token,
            "text": text,
            "filename": "parallel.txt",
            "options": {"parallelUploads": 2},
        },
    )
    assets = assets_of(service, token)
    assert [asset["asset_id"] for asset in assets] == [result["assetId"]]  # no junk assets
    assert assets[0]["checksum"] == hashlib.sha256(text.encode()).hexdigest()
    assert assets[0]["size"] == len(text) and assets[0]["name"] == "parallel.txt"
    # the final upload's URL tells the asset too (Uppy's XHR is gone by then)
    with api(service, token) as client:
        progress = client.get(result["url"].removeprefix(service.base_url)).json()
    assert progress["state"] == "committed" and progress["asset_id"] == result["assetId"]


@pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="ffmpeg missing: no video to play")
def test_an_expired_signed_link_on_a_video_fires_error(service, page, token, tmp_path):
    clip = make_video(tmp_path, "webm")
    with api(service, token) as client:
        created = client.post(
            "/api/assets/upload", files={"file": (clip.name, clip.read_bytes(), "video/webm")}
        )
        assert created.status_code == 201, created.text
        asset_id = created.json()["asset_id"]
        fresh = client.get(f"/api/assets/{asset_id}/url").json()["url"]
    # links are relative unless ASSET_PUBLIC_URL is set: the page is on another origin
    fresh = fresh if fresh.startswith("http") else service.base_url + fresh
    past = int(time.time()) - 60
    expired = f"{service.base_url}/api/assets/{asset_id}/download?" + signed_query(
        SECRET, asset_id, 1, past
    )
    outcome = page.evaluate("mediaOutcome", {"tag": "video", "src": expired, "timeoutMs": 8000})
    assert outcome["event"] == "error", outcome
    # the same element with a valid link plays: the error was the expiry
    outcome = page.evaluate("mediaOutcome", {"tag": "video", "src": fresh, "timeoutMs": 8000})
    assert outcome["event"] == "loadedmetadata", outcome
