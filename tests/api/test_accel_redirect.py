"""``ASSET_ACCEL_REDIRECT_PREFIX``: downloads handed to a front nginx with ``X-Accel-Redirect``
once authorised (the nginx side is measured by ``bench/``; its config is in BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import unquote, urlsplit

import pytest

from asset_service.config import ConfigError, Settings
from asset_service.engine import AssetEngine
from asset_service.http import create_app
from asset_service.http.routes.content import check_accel_redirect

from .helpers import assert_problem, sha256

PREFIX = "/_asset_blobs/"
CONTENT = b"the bytes nginx will send\n" * 40

pytestmark = pytest.mark.file_store_only


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, accel_redirect_prefix=PREFIX)


@pytest.fixture
async def asset(create_asset):
    return await create_asset(CONTENT, "notes.txt")


def blob_path(settings: Settings, redirect: str):
    """The file the front nginx's internal location (``alias <blob root>/``) would send."""
    assert redirect.startswith(PREFIX)
    return settings.data_dir / "blobs" / unquote(redirect.removeprefix(PREFIX))


async def test_an_authorised_download_is_handed_to_nginx(client, auth, asset, settings):
    response = await client.get(f"/api/assets/{asset['asset_id']}/download", headers=auth())

    assert response.status_code == 200
    assert response.content == b""
    redirect = response.headers["X-Accel-Redirect"]
    assert redirect == f"{PREFIX}document-assets/acme/{asset['asset_id']}/v1"
    assert blob_path(settings, redirect).read_bytes() == CONTENT
    # What nginx passes on (Content-Type, Content-Disposition, Cache-Control, Accept-Ranges)
    # or copies from $upstream_http_* (ETag, Last-Modified, X-Content-Type-Options).
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["ETag"] == f'"{sha256(CONTENT)}"'
    assert response.headers["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Last-Modified" in response.headers


async def test_head_and_ranges_are_left_to_nginx(client, auth, asset):
    url = f"/api/assets/{asset['asset_id']}/download"
    head = await client.head(url, headers=auth())
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["X-Accel-Redirect"].startswith(PREFIX)

    ranged = await client.get(url, headers={**auth(), "Range": "bytes=0-9"})
    assert ranged.status_code == 200  # nginx answers 206 from the file
    assert ranged.content == b""
    assert "Content-Range" not in ranged.headers
    assert ranged.headers["X-Accel-Redirect"] == head.headers["X-Accel-Redirect"]


async def test_auth_is_still_enforced(client, auth, asset):
    url = f"/api/assets/{asset['asset_id']}/download"
    anonymous = await client.get(url)
    assert_problem(anonymous, 401)
    assert "X-Accel-Redirect" not in anonymous.headers

    other_customer = await client.get(url, headers=auth(customer="globex"))
    assert_problem(other_customer, 404)
    assert "X-Accel-Redirect" not in other_customer.headers

    forged = await client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert_problem(forged, 401)
    assert "X-Accel-Redirect" not in forged.headers


async def test_a_fresh_cached_copy_gets_304_without_a_redirect(client, auth, asset):
    url = f"/api/assets/{asset['asset_id']}/download"
    response = await client.get(url, headers={**auth(), "If-None-Match": f'"{sha256(CONTENT)}"'})
    assert response.status_code == 304
    assert "X-Accel-Redirect" not in response.headers


async def test_signed_links_and_public_assets_are_redirected_too(client, auth, asset, settings):
    link = await client.get(f"/api/assets/{asset['asset_id']}/url", headers=auth())
    assert link.status_code == 200, link.text
    parts = urlsplit(link.json()["url"])
    response = await client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200
    assert blob_path(settings, response.headers["X-Accel-Redirect"]).read_bytes() == CONTENT

    tampered = await client.get(f"{parts.path}?{parts.query.replace('signature=', 'signature=x')}")
    assert tampered.status_code in (401, 403, 404)
    assert "X-Accel-Redirect" not in tampered.headers


async def test_key_segments_are_percent_encoded(client, auth, make_token, create_asset, settings):
    # (a customer id has no character that needs it: the encoding is a second line of defence)
    headers = {"Authorization": f"Bearer {make_token(customer='a.b_c-D')}"}
    created = await create_asset(CONTENT, "x.txt", headers=headers)
    response = await client.get(f"/api/assets/{created['asset_id']}/download", headers=headers)
    redirect = response.headers["X-Accel-Redirect"]
    assert "/a.b_c-D/" in redirect
    assert blob_path(settings, redirect).read_bytes() == CONTENT


@pytest.mark.parametrize("prefix", ["_blobs/", "/_blobs", "/a b/", "/x?y/", "/%2e/"])
async def test_a_prefix_nginx_cannot_route_is_refused_at_start(
    engine: AssetEngine, settings: Settings, prefix: str
):
    with pytest.raises(ConfigError, match="ASSET_ACCEL_REDIRECT_PREFIX"):
        create_app(engine, replace(settings, accel_redirect_prefix=prefix))


def test_the_option_needs_the_filesystem_store():
    class RemoteStore:
        local_root = None  # an S3 store, say: nginx has no files to send

    class RemoteStoreEngine:
        store = RemoteStore()

    with pytest.raises(ConfigError, match="filesystem blob store"):
        check_accel_redirect(PREFIX, RemoteStoreEngine())  # type: ignore[arg-type]
