"""tus requests are authorised on every request, not only at creation (issue 13): the token
that continues, follows or ends an upload must still be allowed to upload, and be of its
customer; a customer has at most ``ASSET_MAX_OPEN_UPLOADS`` sessions open. ``POST`` with
``X-HTTP-Method-Override`` is taken as the PATCH or DELETE it names."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import with_settings

from .helpers import TEXT_BYTES, assert_problem
from .test_tus import OFFSET_STREAM, TUS, create, head, patch, temp_files


async def test_a_viewer_token_of_the_creator_can_not_continue_the_upload(client, auth):
    editor = auth(user="alice", roles=("editor",))
    viewer = auth(user="alice", roles=("viewer",))
    url = await create(client, editor, len(TEXT_BYTES), filename="notes.txt")
    assert (await patch(client, url, editor, 0, TEXT_BYTES[:500])).status_code == 204
    assert_problem(await patch(client, url, viewer, 500, TEXT_BYTES[500:]), 403)
    assert (await head(client, url, viewer)).status_code == 403
    assert_problem(await client.delete(url, headers={**viewer, **TUS}), 403)
    # another customer's token, whatever its role: no such upload
    for other in (auth(user="alice", customer="globex", roles=("admin",)),):
        assert (await head(client, url, other)).status_code == 404
        assert (await patch(client, url, other, 500, TEXT_BYTES[500:])).status_code == 404
    # nothing was appended, and the editor finishes it
    assert (await head(client, url, editor)).headers["Upload-Offset"] == "500"
    done = await patch(client, url, editor, 500, TEXT_BYTES[500:])
    assert done.status_code == 204 and "Asset-Id" in done.headers


@pytest.fixture
def settings(settings):
    return with_settings(settings, max_open_uploads=3)


async def test_open_sessions_are_capped_per_customer(client, auth, settings):
    headers = auth()
    urls = [await create(client, headers, 10**6, filename=f"{n}.txt") for n in range(3)]
    refused = await client.post(
        "/api/uploads/", headers={**headers, **TUS, "Upload-Length": str(10**6)}
    )
    assert_problem(refused, 429)
    # another customer has its own count
    await create(client, auth(customer="globex"), 10, filename="g.txt")
    # a session that ends frees its place
    assert (await client.delete(urls[0], headers={**headers, **TUS})).status_code == 204
    await create(client, headers, len(TEXT_BYTES), filename="notes.txt")


async def test_post_with_a_method_override_is_that_method(client, auth, settings):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    override = {**headers, **TUS, **OFFSET_STREAM}
    first = await client.post(
        url,
        headers={**override, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"},
        content=TEXT_BYTES[:400],
    )
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == "400"
    last = await client.post(
        url,
        headers={**override, "Upload-Offset": "400", "X-HTTP-Method-Override": "patch"},
        content=TEXT_BYTES[400:],
    )
    assert last.status_code == 204, last.text
    record = await client.get(f"/api/assets/{last.headers['Asset-Id']}", headers=headers)
    assert record.json()["checksum"] == hashlib.sha256(TEXT_BYTES).hexdigest()
    # the asset is also told to a client whose last request is gone (Uppy's XHR)
    progress = (await client.get(url, headers=headers)).json()
    assert progress["state"] == "committed"
    assert progress["asset_id"] == last.headers["Asset-Id"]
    # DELETE too
    other = await create(client, headers, len(TEXT_BYTES), filename="other.txt")
    assert (await patch(client, other, headers, 0, TEXT_BYTES[:100])).status_code == 204
    ended = await client.post(other, headers={**headers, **TUS, "X-HTTP-Method-Override": "DELETE"})
    assert ended.status_code == 204
    assert (await head(client, other, headers)).status_code == 410
    assert temp_files(settings) == []
    # no override, or one that is not PATCH or DELETE: POST is not a method of an upload
    for extra in ({}, {"X-HTTP-Method-Override": "PUT"}):
        refused = await client.post(url, headers={**headers, **TUS, **extra})
        assert_problem(refused, 405)
        assert "PATCH" in refused.headers["Allow"]
