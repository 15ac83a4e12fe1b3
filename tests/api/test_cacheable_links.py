"""Signed links that caches can keep (issue 15), on every blob store: the same URL for a whole
``ASSET_LINK_WINDOW``, a new one in the next, an expiry exactly at a window boundary, what a
pinned link, a link to the current version, a preview link and a refusal say to caches, the
disposition inside the signature, and deletes, purges and visibility still ending access at
once. The app's clock is the test's own, stepped across windows; tokens use the real one."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trio

from asset_service.config import ConfigError, Settings, load_settings
from asset_service.engine import AssetEngine
from asset_service.engine.preview_types import PreviewStatus
from asset_service.http import create_app
from asset_service.wiring import running_engine
from tests.conftest import start_server
from tests.preview_media import small_png

from .helpers import TEXT_BYTES, assert_problem

WINDOW = 3600


class SteppedClock:
    """The app's clock: stands still until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def start() -> int:
    """A window boundary at or before the real time (a store's presigned URL is checked
    against the real one: it must not be signed in the future)."""
    return int(time.time()) // WINDOW * WINDOW


@pytest.fixture
def clock(start: int) -> SteppedClock:
    return SteppedClock(start + 1)


@pytest.fixture
async def client(
    engine: AssetEngine, settings: Settings, nursery: trio.Nursery, clock: SteppedClock
) -> AsyncIterator[httpx.AsyncClient]:
    base_url = await start_server(nursery, engine, settings, clock=clock)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


async def link(client: httpx.AsyncClient, auth, asset_id: str, **params: object) -> dict:
    response = await client.get(f"/api/assets/{asset_id}/url", params=params, headers=auth())
    assert response.status_code == 200, response.text
    return response.json()


def refused_with(response: httpx.Response, status: int, fragment: str) -> None:
    """A problem document with this status, saying ``fragment``, that no cache may keep."""
    assert fragment in assert_problem(response, status)["detail"]
    assert response.headers["Cache-Control"] == "no-store"


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["expires"][0])


# --- one URL per window ------------------------------------------------------------------


async def test_the_same_url_for_a_whole_window_and_a_new_one_in_the_next(
    client, auth, create_asset, clock, start
):
    asset_id = (await create_asset())["asset_id"]
    first = await link(client, auth, asset_id, version=1)
    # expiry: the first boundary strictly after now + expires (3600 by default)
    assert expires_of(first["url"]) == start + 2 * WINDOW
    assert first["expires_at"].startswith(time.strftime("%Y-%m-%dT%H", time.gmtime(start + 7200)))
    clock.now = start + WINDOW - 1
    assert await link(client, auth, asset_id, version=1) == first  # byte for byte
    # another caller allowed to read it gets the same URL too: a CDN keeps one copy
    colleague = await client.get(
        f"/api/assets/{asset_id}/url", params={"version": 1}, headers=auth(user="carol")
    )
    assert colleague.json() == first
    clock.now = start + WINDOW  # now + 3600 is a boundary: the next one is the expiry
    second = await link(client, auth, asset_id, version=1)
    assert expires_of(second["url"]) == start + 3 * WINDOW and second["url"] != first["url"]
    # another expires, disposition or version: another URL
    clock.now = start + 1
    assert (await link(client, auth, asset_id, version=1, expires=60))["url"] != first["url"]
    assert (await link(client, auth, asset_id, version=1, inline=1))["url"] != first["url"]
    assert (await link(client, auth, asset_id))["url"] != first["url"]


async def test_a_link_ends_exactly_at_its_window_boundary(client, auth, create_asset, clock, start):
    asset_id = (await create_asset())["asset_id"]
    url = (await link(client, auth, asset_id, version=1, expires=60))["url"]
    assert expires_of(url) == start + WINDOW
    clock.now = start + WINDOW - 0.5
    last = await client.get(url)
    assert last.status_code == 200 and last.content == TEXT_BYTES
    assert last.headers["Cache-Control"] == "public, max-age=0, immutable"
    clock.now = start + WINDOW
    refused = await client.get(url)
    refused_with(refused, 403, "expired")
    assert refused.headers["Cache-Control"] == "no-store"


# --- what the answers say to caches ------------------------------------------------------


async def test_a_pinned_link_is_immutable_until_it_expires(
    client, auth, create_asset, clock, start
):
    asset_id = (await create_asset())["asset_id"]
    url = (await link(client, auth, asset_id, version=1))["url"]
    clock.now = start + 100
    response = await client.get(url)
    assert response.status_code == 200 and response.content == TEXT_BYTES
    # max-age counts from now to the link's expiry: no cache keeps it past that
    assert response.headers["Cache-Control"] == f"public, max-age={2 * WINDOW - 100}, immutable"
    etag = response.headers["ETag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == response.headers["Cache-Control"]
    ranged = await client.get(url, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206
    assert ranged.headers["Cache-Control"] == response.headers["Cache-Control"]
    # a new version changes nothing for a pinned link
    added = await client.post(
        f"/api/assets/{asset_id}/versions",
        headers=auth(),
        files={"file": ("notes.txt", b"the second version", "text/plain")},
    )
    assert added.status_code == 201, added.text
    assert (await client.get(url)).content == TEXT_BYTES


async def test_a_link_to_the_current_version_is_revalidated_and_follows_it(
    client, auth, create_asset
):
    asset_id = (await create_asset())["asset_id"]
    url = (await link(client, auth, asset_id))["url"]
    assert "version=" not in url
    first = await client.get(url)
    assert first.content == TEXT_BYTES
    assert first.headers["Cache-Control"] == "public, no-cache"
    etag = first.headers["ETag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
    added = await client.post(
        f"/api/assets/{asset_id}/versions",
        headers=auth(),
        files={"file": ("notes.txt", b"the second version", "text/plain")},
    )
    assert added.status_code == 201, added.text
    # the same URL: the cache revalidates, and gets the new version
    second = await client.get(url, headers={"If-None-Match": etag})
    assert second.status_code == 200 and second.content == b"the second version"
    assert second.headers["ETag"] != etag


async def test_the_disposition_is_part_of_the_signature(client, auth, create_asset):
    asset_id = (await create_asset(content=small_png(), filename="p.png"))["asset_id"]
    inline = (await link(client, auth, asset_id, version=1, inline=1))["url"]
    assert "inline=1" in inline
    shown = await client.get(inline)
    assert shown.headers["Content-Disposition"].startswith("inline;")
    refused_with(await client.get(inline.replace("inline=1&", "")), 403, "signature")
    attachment = (await link(client, auth, asset_id, version=1))["url"]
    assert (await client.get(attachment)).headers["Content-Disposition"].startswith("attachment;")
    refused_with(await client.get(f"{attachment}&inline=1"), 403, "signature")
    # redirect=1 hands out the same link as /url
    redirected = await client.get(
        f"/api/assets/{asset_id}/download",
        params={"redirect": 1, "version": 1, "inline": 1},
        headers=auth(),
    )
    assert redirected.status_code == 302 and redirected.headers["Location"] == inline


async def test_a_preview_link_is_pinned_and_immutable(
    engine, client, auth, create_asset, clock, start
):
    asset = await create_asset(content=small_png(), filename="p.png")
    asset_id = asset["asset_id"]
    await previews_settled(engine, asset_id)
    first = await link(client, auth, asset_id, preview="thumbnail", size=128)
    clock.now = start + WINDOW - 1
    assert await link(client, auth, asset_id, preview="thumbnail", size=128) == first
    url = first["url"]
    assert "version=1" in url and "epoch=0" in url
    response = await client.get(url)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"] == f"public, max-age={WINDOW + 1}, immutable"
    # by token: without a version, the current version's preview is revalidated
    by_token = await client.get(f"/api/assets/{asset_id}/previews/thumbnail", headers=auth())
    assert by_token.headers["Cache-Control"] == "private, no-cache"
    pinned = await client.get(
        f"/api/assets/{asset_id}/previews/thumbnail", params={"version": 1}, headers=auth()
    )
    assert pinned.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    # a delete ends it at once, and for good
    assert (await client.delete(f"/api/assets/{asset_id}", headers=auth())).status_code == 204
    gone = await client.get(url)
    assert gone.status_code == 404 and gone.headers["Cache-Control"] == "no-store"
    admin = auth(user="ada", roles=("admin",))
    assert (await client.post(f"/api/assets/{asset_id}/restore", headers=admin)).status_code == 200
    refused_with(await client.get(url), 403, "revoked")


async def previews_settled(engine: AssetEngine, asset_id: str) -> None:
    """Told by the events, never by polling."""
    with trio.fail_after(60):
        async with engine.hub.subscribe() as events:
            while True:
                states = await engine.catalog.previews_of(asset_id, 1)  # type: ignore[attr-defined]
                if states and all(s.status != PreviewStatus.PENDING for s in states):
                    return
                async for event in events:
                    if event.name.startswith("asset.preview_"):
                        break


# --- access still ends at once --------------------------------------------------------------


async def test_delete_purge_and_leaving_public_end_access_at_once(client, auth, create_asset):
    owner, admin = auth(), auth(user="ada", roles=("admin",))
    asset_id = (await create_asset(visibility="public"))["asset_id"]
    pinned = (await link(client, auth, asset_id, version=1))["url"]
    current = (await link(client, auth, asset_id))["url"]
    anonymous = f"/api/assets/{asset_id}/download"
    assert (await client.get(anonymous)).headers["Cache-Control"] == "no-cache"
    # leaving public: anonymous downloads end at once (they were never kept unrevalidated);
    # links, handed out to callers who may read the asset, stay (README)
    made_private = await client.put(
        f"/api/assets/{asset_id}", json={"visibility": "private"}, headers=owner
    )
    assert made_private.status_code == 200, made_private.text
    assert_problem(await client.get(anonymous), 401)
    assert (await client.get(pinned)).status_code == 200
    # a delete: at once, and a refusal no cache keeps
    assert (await client.delete(f"/api/assets/{asset_id}", headers=owner)).status_code == 204
    for url in (pinned, current):
        refused = await client.get(url)
        assert refused.status_code == 404 and refused.headers["Cache-Control"] == "no-store"
    # a purge: the same
    purged = await client.delete(f"/api/assets/{asset_id}?permanent=true", headers=admin)
    assert purged.status_code == 204, purged.text
    for url in (pinned, current):
        refused = await client.get(url, headers={"Range": "bytes=0-"})  # a media element
        assert refused.status_code == 404 and refused.headers["Cache-Control"] == "no-store"


# --- bounds ----------------------------------------------------------------------------------


async def test_expires_is_at_most_7_days_less_the_window(client, auth, create_asset, start):
    asset_id = (await create_asset())["asset_id"]
    most = 7 * 86400 - WINDOW
    longest = await link(client, auth, asset_id, version=1, expires=most)
    assert expires_of(longest["url"]) - (start + 1) <= 7 * 86400
    too_long = await client.get(
        f"/api/assets/{asset_id}/url", params={"expires": most + 1}, headers=auth()
    )
    refused_with(too_long, 400, f"1 to {most} seconds")
    gql = await client.post(
        "/graphql",
        json={"query": f'mutation {{ signLink(id: "{asset_id}", expires: {most + 1}) {{ url }} }}'},
        headers=auth(),
    )
    assert "1 to 601200 seconds" in gql.text


async def test_graphql_hands_out_the_rest_link(client, auth, create_asset):
    asset_id = (await create_asset(content=small_png(), filename="p.png"))["asset_id"]
    rest = await link(client, auth, asset_id, version=1, inline=1)
    query = (
        f'mutation {{ signLink(id: "{asset_id}", version: 1, inline: true) {{ url expiresAt }} }}'
    )
    answer = await client.post("/graphql", json={"query": query}, headers=auth())
    assert answer.json()["data"]["signLink"] == {
        "url": rest["url"],
        "expiresAt": rest["expires_at"],
    }


@pytest.mark.parametrize("raw", ["0", "86401", "-5", "hour", "1.5"])
def test_a_bad_link_window_stops_the_start(raw):
    with pytest.raises(ConfigError, match="ASSET_LINK_WINDOW"):
        load_settings({"ASSET_LINK_WINDOW": raw})


@pytest.mark.file_store_only
async def test_a_bad_link_window_is_refused_by_the_app_too(engine, settings):
    with pytest.raises(ConfigError, match="ASSET_LINK_WINDOW must be 1 to 86400"):
        create_app(engine, replace(settings, link_window=0))
    assert load_settings({"ASSET_LINK_WINDOW": "60"}).link_window == 60


async def test_a_shorter_window_allows_longer_links(
    engine, settings, nursery, auth, create_asset, start
):
    asset_id = (await create_asset())["asset_id"]
    base = await start_server(
        nursery, engine, replace(settings, link_window=60), clock=SteppedClock(start + 1)
    )
    async with httpx.AsyncClient(base_url=base) as short:
        answer = await short.get(
            f"/api/assets/{asset_id}/url", params={"expires": 7 * 86400 - 60}, headers=auth()
        )
        assert answer.status_code == 200, answer.text
        url = answer.json()["url"]
        assert expires_of(url) % 60 == 0 and expires_of(url) - start <= 7 * 86400


# --- the store's own presigned URLs ----------------------------------------------------------


async def test_presigned_urls_follow_the_same_window(settings, api_blob_store, auth, start):
    if api_blob_store == "file":
        pytest.skip("the filesystem store has no presigned URLs: the service signs its own")
    presigning = replace(settings, blob_store=f"{settings.blob_store}&presign=true")
    clock = SteppedClock(start + 1)
    async with running_engine(presigning) as engine, trio.open_nursery() as server:
        base = await start_server(server, engine, presigning, clock=clock)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            created = await client.post(
                "/api/assets/upload",
                headers=auth(),
                files={"file": ("notes.txt", TEXT_BYTES, "text/plain")},
            )
            assert created.status_code == 201, created.text
            asset_id = created.json()["asset_id"]
            first = await link(client, auth, asset_id)
            assert "X-Amz-Signature=" in first["url"]
            clock.now = start + WINDOW - 1
            assert await link(client, auth, asset_id) == first
            clock.now = start + WINDOW
            assert (await link(client, auth, asset_id))["url"] != first["url"]
            fetched = await client.get(first["url"])  # an absolute URL: the store itself
            assert fetched.status_code == 200 and fetched.content == TEXT_BYTES
            assert fetched.headers["Cache-Control"] == "public, immutable"
            expires = parsedate_to_datetime(fetched.headers["Expires"]).timestamp()
            assert expires == start + 2 * WINDOW
            assert fetched.headers["Content-Disposition"].startswith("attachment;")
            query = parse_qs(urlsplit(first["url"]).query)
            assert query["X-Amz-Expires"] == [str(WINDOW + 3600)]
        server.cancel_scope.cancel()
