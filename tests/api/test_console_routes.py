"""The console's routes over a real Hypercorn: the page and its files with a strict CSP and
``nosniff``, nothing outside the console's static directory, and the development token only
where ``serve --dev`` on a loopback address put it (the browser tests are tests/browser)."""

from __future__ import annotations

import re
from functools import partial

import httpx
import pytest
from hypercorn.config import Config
from hypercorn.trio import serve

from asset_service.config import Settings
from asset_service.http import create_app
from asset_service.http.routes.console import (
    content_security_policy,
    dev_token_blueprint,
    is_loopback,
)

from .helpers import assert_problem

pytestmark = pytest.mark.file_store_only


def assert_console_headers(response: httpx.Response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_page_is_served_at_the_root_with_a_strict_policy(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert_console_headers(response)
    page = response.text
    # no inline script or style: every <script> has a src, no style element or attribute
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page and " style=" not in page
    for hook in ("token-input", "sign-in", "search-input", "upload-input", "folder-tree"):
        assert f'data-testid="{hook}"' in page


async def test_every_file_the_page_names_is_served(client):
    page = (await client.get("/")).text
    names = set(re.findall(r'(?:src|href)="(/console/[^"]+)"', page))
    main = (await client.get("/console/js/main.js")).text
    modules = set(re.findall(r'from "\./([a-z]+\.js)"', main))
    names |= {f"/console/js/{module}" for module in modules}
    assert {"/console/style.css", "/console/vendor/tus.min.js", "/console/js/api.js"} <= names
    for name in sorted(names):
        response = await client.get(name)
        assert response.status_code == 200, name
        assert_console_headers(response)
        expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        suffix = name[name.rindex(".") :]
        assert response.headers["Content-Type"].startswith(expected[suffix]), name


async def test_the_vendored_library_ships_with_its_licence(client):
    licence = await client.get("/console/vendor/tus-js-client.LICENSE")
    assert licence.status_code == 200
    assert "MIT" in licence.text or "Permission is hereby granted" in licence.text


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/missing.js",
        "/console/../__init__.py",
        "/console/%2e%2e/__init__.py",
        "/console/js/%2e%2e/%2e%2e/__init__.py",
        "/console/.hidden.js",
        "/console/js/main.py",
        "/console/index.html/",
        "/console/dev-token",
    ],
)
async def test_nothing_else_is_served(client, path):
    response = await client.get(path)
    assert_problem(response, 404)


async def test_the_console_holds_no_privilege(client, auth):
    """It is a client of the API like any other: the page and files need no token, and
    having loaded them gives no access."""
    assert (await client.get("/")).status_code == 200
    assert_problem(await client.get("/api/assets/search"), 401)


# --- the development token -----------------------------------------------------------------------


def test_only_loopback_addresses_count_as_this_machine():
    for host in ("127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""):
        assert not is_loopback(host), host


async def test_the_dev_token_route_answers_loopback_peers(engine, settings, nursery):
    app = create_app(engine, settings)
    app.register_blueprint(dev_token_blueprint("the-dev-token"))
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = config.errorlog = None
    [base] = await nursery.start(partial(serve, app, config))
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/console/dev-token")
    assert response.status_code == 200
    assert response.json()["token"] == "the-dev-token"
    assert response.headers["Cache-Control"] == "no-store"


async def test_the_dev_token_route_refuses_other_peers(engine, settings):
    # (a peer that is not this machine cannot be made on a loopback-only test host: Quart's
    # test client sets the peer address of the request instead)
    app = create_app(engine, settings)
    app.register_blueprint(dev_token_blueprint("the-dev-token"))
    client = app.test_client()
    response = await client.get("/console/dev-token", scope_base={"client": ("192.0.2.7", 4321)})
    assert response.status_code == 403
    assert "the-dev-token" not in (await response.get_data(as_text=True))


# --- the policy -----------------------------------------------------------------------------------


def test_media_may_come_from_the_store_when_it_presigns():
    assert "minio" not in content_security_policy(Settings(blob_store=""))
    plain = Settings(blob_store="s3://key:secret@minio:9000?secure=false")
    assert "minio" not in content_security_policy(plain)
    presigning = Settings(blob_store="s3://key:secret@minio:9000?secure=false&presign=true")
    assert "media-src 'self' http://minio:9000;" in content_security_policy(presigning)
    cdn = Settings(
        blob_store="s3://key:secret@minio:9000?presign=true&presign_endpoint=cdn.example.com"
    )
    policy = content_security_policy(cdn)
    assert "media-src 'self' https://cdn.example.com;" in policy
    assert "script-src 'self';" in policy
