"""tus's concatenation extension (issue 13): partial uploads are never assets; the final
upload names them (by the paths their ``Location`` gave, or as absolute URLs), is inspected and
committed once with the sha256 of the whole, and answers with ``Asset-Id`` — also readable from
``GET /api/uploads/{id}`` afterwards; an ``Upload-Concat`` not understood is refused; partials
expire like any session."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import trio

from asset_service.engine.model import utc_now
from tests.conftest import data_files

from .helpers import PROBLEM_JSON, TEXT_BYTES, assert_problem
from .test_tus import TUS, head, metadata, patch, temp_files


async def partial(client, headers, content: bytes, *, send: bool = True) -> str:
    created = await client.post(
        "/api/uploads/",
        headers={**headers, **TUS, "Upload-Length": str(len(content)), "Upload-Concat": "partial"},
    )
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    if send:
        done = await patch(client, url, headers, 0, content)
        assert done.status_code == 204, done.text
        assert "Asset-Id" not in done.headers  # a partial upload is never an asset
    return url


async def final(client, headers, urls: list[str], **meta: str):
    return await client.post(
        "/api/uploads/",
        headers={
            **headers,
            **TUS,
            "Upload-Concat": "final;" + " ".join(urls),
            "Upload-Metadata": metadata(**meta),
        },
    )


async def asset_count(client, headers) -> int:
    listed = await client.get("/api/assets/search", headers=headers, params={"limit": 100})
    return len(listed.json()["items"])


async def test_partials_make_one_asset_with_the_sha256_of_the_whole(
    client, auth, base_url, settings
):
    headers = auth()
    before = data_files(settings)
    halves = [TEXT_BYTES[:700], TEXT_BYTES[700:1000], TEXT_BYTES[1000:]]
    urls = [await partial(client, headers, half) for half in halves]
    assert await asset_count(client, headers) == 0
    status = await head(client, urls[0], headers)
    assert status.headers["Upload-Concat"] == "partial"
    # a path as Location gave it, and absolute URLs as tus-js-client resolves them
    named = [urls[0], base_url + urls[1], "http://assets.example.com" + urls[2]]
    answer = await final(client, headers, named, filename="notes.txt", title="Whole")
    assert answer.status_code == 201, answer.text
    asset_id = answer.headers["Asset-Id"]
    record = (await client.get(f"/api/assets/{asset_id}", headers=headers)).json()
    assert record["checksum"] == hashlib.sha256(TEXT_BYTES).hexdigest()
    assert record["size"] == len(TEXT_BYTES) and record["name"] == "notes.txt"
    assert record["metadata"]["title"] == "Whole"
    assert await asset_count(client, headers) == 1
    # the final upload's record tells the asset (for clients whose request is gone)
    final_url = answer.headers["Location"]
    progress = (await client.get(final_url, headers=headers)).json()
    assert progress["state"] == "committed" and progress["asset_id"] == asset_id
    assert progress["received_bytes"] == progress["total_bytes"] == len(TEXT_BYTES)
    described = await head(client, final_url, headers)
    assert described.headers["Upload-Concat"].startswith("final;/api/uploads/")
    assert described.headers["Asset-Id"] == asset_id
    # the partials are consumed: their bytes and records go
    assert temp_files(settings) == []
    for url in urls:
        assert (await head(client, url, headers)).status_code == 404
    assert set(data_files(settings)) - set(before)  # the asset's blob, nothing in temp
    # a final upload takes no bytes
    refused = await patch(client, final_url, headers, len(TEXT_BYTES), b"x")
    assert_problem(refused, 403)


async def test_the_extension_is_announced(client):
    answer = await client.options("/api/uploads/")
    assert "concatenation" in answer.headers["Tus-Extension"].split(",")


@pytest.mark.parametrize(
    "value",
    ["partial;x", "final", "final;", "merge", "final;/api/uploads/nothex", "final;ftp://h/x"],
)
async def test_an_upload_concat_not_understood_is_refused(client, auth, settings, value):
    headers = auth()
    answer = await client.post(
        "/api/uploads/",
        headers={**headers, **TUS, "Upload-Length": "10", "Upload-Concat": value},
    )
    assert_problem(answer, 400)
    assert temp_files(settings) == []
    assert await asset_count(client, headers) == 0


async def test_what_a_final_upload_refuses(client, auth, settings):
    headers = auth()
    done = await partial(client, headers, TEXT_BYTES[:500])
    unfinished = await partial(client, headers, TEXT_BYTES[500:], send=False)
    ordinary = (
        await client.post("/api/uploads/", headers={**headers, **TUS, "Upload-Length": "10"})
    ).headers["Location"]
    # an unfinished partial, an ordinary upload, one named twice, one that never was
    for urls, status in (
        ([done, unfinished], 400),
        ([done, ordinary], 400),
        ([done, done], 400),
        ([done, "/api/uploads/" + "0" * 32], 404),
    ):
        assert_problem(await final(client, headers, urls, filename="a.txt"), status)
    # another user's partial, another customer's: not there for this user
    for other in (auth(user="eddie"), auth(customer="globex")):
        assert_problem(await final(client, other, [done], filename="a.txt"), 404)
    # a viewer may not, whoever's the partials are
    viewer = auth(roles=("viewer",))
    assert_problem(await final(client, viewer, [done], filename="a.txt"), 403)
    # a length or bytes of its own
    with_length = await client.post(
        "/api/uploads/",
        headers={**headers, **TUS, "Upload-Length": "5", "Upload-Concat": f"final;{done}"},
    )
    assert_problem(with_length, 400)
    # a PATCH may repeat `partial` (tus-js-client does) — of a partial upload, and nothing else
    for url, value in (
        (unfinished, f"final;{done}"),
        (unfinished, "merge"),
        (ordinary, "partial"),
    ):
        refused = await patch(client, url, headers, 0, b"x", **{"Upload-Concat": value})
        assert_problem(refused, 400)
    # none of it left an asset or claimed the partial: it still makes one
    assert await asset_count(client, headers) == 0
    rest = await patch(
        client, unfinished, headers, 0, TEXT_BYTES[500:], **{"Upload-Concat": "partial"}
    )
    assert rest.status_code == 204 and "Asset-Id" not in rest.headers
    answer = await final(client, headers, [done, unfinished], filename="notes.txt")
    assert answer.status_code == 201, answer.text
    assert await asset_count(client, headers) == 1


async def test_refused_content_fails_the_final_and_takes_the_partials(client, auth, settings):
    headers = auth()
    noise = bytes(range(256)) * 8
    urls = [
        await partial(client, headers, noise[:1000]),
        await partial(client, headers, noise[1000:]),
    ]
    answer = await final(client, headers, urls, filename="noise.bin")
    assert answer.status_code == 415, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert temp_files(settings) == []
    assert await asset_count(client, headers) == 0
    for url in urls:
        assert (await head(client, url, headers)).status_code == 404


async def test_two_finals_racing_for_the_same_partials_make_one_asset(client, auth):
    headers = auth()
    urls = [
        await partial(client, headers, TEXT_BYTES[:600]),
        await partial(client, headers, TEXT_BYTES[600:]),
    ]
    answers: list[int] = []

    async def send() -> None:
        answers.append((await final(client, headers, urls, filename="notes.txt")).status_code)

    async with trio.open_nursery() as both:
        both.start_soon(send)
        both.start_soon(send)
    assert 201 in answers and answers.count(201) == 1, answers
    assert await asset_count(client, headers) == 1


async def test_a_claimed_partial_can_not_be_terminated(client, auth, engine):
    headers = auth()
    url = await partial(client, headers, TEXT_BYTES)
    upload_id = url.rsplit("/", 1)[1]
    session = await engine.catalog.get_upload(upload_id)
    session.final_id = "f" * 32
    session.revision += 1
    assert await engine.catalog.replace_upload(session, session.revision - 1)
    assert_problem(await client.delete(url, headers={**headers, **TUS}), 409)


async def test_expired_partials_are_removed_by_the_cleanup(client, auth, engine, settings):
    headers = auth()
    before = data_files(settings)
    url = await partial(client, headers, TEXT_BYTES)
    upload_id = url.rsplit("/", 1)[1]
    session = await engine.catalog.get_upload(upload_id)
    session.expires_at = utc_now() - timedelta(seconds=1)
    session.revision += 1
    assert await engine.catalog.replace_upload(session, session.revision - 1)
    assert_problem(await final(client, headers, [url], filename="notes.txt"), 400)
    report = await engine.run_cleanup()
    assert report.uploads_expired == 1
    assert data_files(settings) == before
    assert await asset_count(client, headers) == 0


async def test_an_upload_concat_not_understood_is_refused_on_every_tus_request(client, auth):
    headers = auth()
    url = await partial(client, headers, TEXT_BYTES[:100], send=False)
    garbage = {**headers, **TUS, "Upload-Concat": "merge"}
    assert (await client.head(url, headers=garbage)).status_code == 400
    assert_problem(await client.delete(url, headers=garbage), 400)
    # and understood, it is fine
    understood = {**headers, **TUS, "Upload-Concat": "partial"}
    assert (await client.head(url, headers=understood)).headers["Upload-Concat"] == "partial"
