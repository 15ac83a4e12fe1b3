"""What a browser frontend needs beyond the protocols (issue 13): ``If-None-Match`` on an
asset's record answers 304 while its revision is current; CORS origins given as patterns; a
refused signed link answers a media element in ``text/plain`` (a browser blocks JSON to it)."""

from __future__ import annotations

import time

import httpx
import pytest

from asset_service.http.origins import OriginPolicy
from tests.conftest import start_server, with_settings

from .helpers import TEXT_BYTES, assert_problem, signed_query


@pytest.fixture
async def text_asset(create_asset):
    return await create_asset(TEXT_BYTES, "notes.txt", title="Team notes")


async def test_if_none_match_on_a_record_is_304_while_its_revision_is_current(
    client, auth, text_asset
):
    url = f"/api/assets/{text_asset['asset_id']}"
    first = await client.get(url, headers=auth())
    etag = first.headers["ETag"]
    cached = await client.get(url, headers={**auth(), "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["ETag"] == etag and cached.content == b""
    # a list of tags, a weak tag, and *: the same
    for header in (f'"r999", {etag}', f"W/{etag}", "*"):
        again = await client.get(url, headers={**auth(), "If-None-Match": header})
        assert again.status_code == 304, header
    # another revision: the record, with its new ETag
    await client.put(url, headers=auth(), json={"title": "Renamed"})
    changed = await client.get(url, headers={**auth(), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag and changed.json()["metadata"]["title"] == "Renamed"
    # the check comes after authorisation: no token is still a 401, another customer a 404
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 401
    other = auth(customer="globex")
    assert (await client.get(url, headers={**other, "If-None-Match": "*"})).status_code == 404


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:5173", True),
        ("http://localhost:80", True),
        ("http://LOCALHOST:3000", True),
        ("http://localhost", False),
        ("http://localhost:80.evil.example", False),
        ("http://localhost:5173/path", False),
        ("https://localhost:5173", False),
        ("https://app.example.com", True),
        ("https://a.example.com", True),
        ("https://a.b.example.com", False),
        ("https://evil.example.com.attacker.net", False),
        ("https://example.com", False),
    ],
)
def test_origin_patterns(origin, allowed):
    policy = OriginPolicy(("http://localhost:*", "https://*.example.com"))
    assert policy.allows(origin) is allowed


def test_any_origin_and_none():
    assert OriginPolicy(("*",)).allows("https://anything.example")
    assert not OriginPolicy(()).configured
    assert not OriginPolicy(()).allows("https://anything.example")


@pytest.mark.file_store_only
async def test_cors_answers_an_origin_matching_a_pattern(engine, settings, nursery):
    settings = with_settings(settings, cors_origins=("http://localhost:*",))
    base_url = await start_server(nursery, engine, settings)
    async with httpx.AsyncClient(base_url=base_url) as client:
        for origin, allowed in (("http://localhost:5173", True), ("http://evil:5173", False)):
            preflight = await client.options(
                "/api/uploads/",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert (preflight.headers.get("Access-Control-Allow-Origin") == origin) is allowed
            if allowed:
                assert "Origin" in preflight.headers["Vary"]


def signed_link(settings, asset_id: str, expires: int) -> str:
    query = signed_query(settings.url_signing_secret, asset_id, 1, expires)
    return f"/api/assets/{asset_id}/download?{query}"


def expired_link(settings, asset_id: str) -> str:
    return signed_link(settings, asset_id, int(time.time()) - 60)


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-"},  # what <video> and <audio> send
        {"Sec-Fetch-Dest": "video", "Accept": "*/*"},
        {"Sec-Fetch-Dest": "image", "Accept": "image/avif,image/webp,*/*"},
    ],
)
async def test_a_refused_link_answers_a_media_element_in_plain_text(
    client, auth, settings, text_asset, headers
):
    asset_id = text_asset["asset_id"]
    expired = await client.get(expired_link(settings, asset_id), headers=headers)
    assert expired.status_code == 403
    assert expired.headers["content-type"].startswith("text/plain")
    assert "expired" in expired.text
    assert expired.headers["Cache-Control"] == "no-store"
    # a link that outlived its asset: 404, the same way
    link = signed_link(settings, asset_id, int(time.time()) + 600)
    assert (await client.get(link, headers=headers)).status_code in (200, 206)
    await client.delete(f"/api/assets/{asset_id}", headers=auth())
    gone = await client.get(link, headers=headers)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/plain")


async def test_a_refused_link_is_a_problem_document_for_everyone_else(client, settings, text_asset):
    url = expired_link(settings, text_asset["asset_id"])
    for headers in ({}, {"Range": "bytes=0-", "Accept": "application/json"}):
        assert_problem(await client.get(url, headers=headers), 403)
