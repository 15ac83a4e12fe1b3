"""Resumable uploads over tus 1.0.0 at ``/api/uploads/`` (issue 7): a real tus client
(``tuspy``) uploading 50 MiB in 5 MiB chunks with checksums, cut off mid-way and resumed from
the server's offset; the protocol's refusals (460, 409, 410, 412, 413, 415); termination and
expiry leaving nothing; a session continued by another instance; progress at
``GET /api/uploads/{id}``; CORS for browser clients."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import wave
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import trio
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from asset_service.engine.model import utc_now
from asset_service.wiring import running_engine
from tests.conftest import data_files, start_server, with_settings

from .helpers import PROBLEM_JSON, TEXT_BYTES

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Room for the 50 MiB upload."""
    return with_settings(settings, max_upload_bytes=64 * MiB)


def wav_file(path: Path, size: int) -> bytes:
    """A WAV of about ``size`` bytes of noise; returns its bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(os.urandom(size // 2 * 2))
    content = buffer.getvalue()
    path.write_bytes(content)
    return content


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def temp_files(settings: Settings) -> list[str]:
    return [f for f in data_files(settings) if f.startswith(("temp-uploads/", ".partial/"))]


async def create(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    length: int | None,
    **meta: str,
) -> str:
    sizes = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    response = await client.post(
        "/api/uploads/",
        headers={**headers, **TUS, **sizes, "Upload-Metadata": metadata(**meta)},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in response.headers
    return response.headers["Location"]


async def patch(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    offset: int,
    content: bytes,
    **extra: str,
) -> httpx.Response:
    return await client.patch(
        url,
        headers={**headers, **TUS, **OFFSET_STREAM, "Upload-Offset": str(offset), **extra},
        content=content,
    )


async def head(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    return await client.head(url, headers={**headers, **TUS})


def checksum(algorithm: str, content: bytes) -> str:
    digest = hashlib.new(algorithm, content).digest()
    return f"{algorithm} {base64.b64encode(digest).decode()}"


class Sha256Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


async def wait_until_idle(engine: AssetEngine, upload_id: str) -> None:
    """Until no request of this upload runs in the server (an interrupted one saves what it
    received in its cleanup, after the client is gone)."""
    with trio.fail_after(10):
        while upload_id in engine.in_flight.upload_sessions:  # noqa: ASYNC110 - polls the server
            await trio.sleep(0.01)


async def cut_off_patch(base_url: str, path: str, token: str, offset: int, body: bytes) -> None:
    """A PATCH announcing ``2 * len(body)`` bytes that sends ``body`` and hangs up."""
    host, port = base_url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    request = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {2 * len(body)}\r\n\r\n"
    ).encode()
    await stream.send_all(request + body)
    await trio.sleep(0.2)
    await stream.aclose()


# --- the "done when" -----------------------------------------------------------------


async def test_tuspy_resumes_a_50_mib_upload_cut_off_midway(
    base_url, engine, settings, make_token, tmp_path, client
):
    path = tmp_path / "big.wav"
    content = wav_file(path, 50 * MiB)
    token = make_token()
    headers = {"Authorization": f"Bearer {token}"}
    tus = TusClient(f"{base_url}/api/uploads/", headers=headers)
    meta = {"filename": "big.wav", "title": "A big one", "folder": "/long/takes", "tags": "a,b"}

    def first_chunks() -> tuple[str, int]:
        uploader = tus.uploader(
            file_path=str(path), chunk_size=5 * MiB, metadata=meta, upload_checksum=True
        )
        for _ in range(4):
            uploader.upload_chunk()
        return uploader.url, uploader.offset

    url, offset = await trio.to_thread.run_sync(first_chunks)
    assert offset == 20 * MiB
    upload_id = url.rsplit("/", 1)[1]
    # the connection drops in the middle of the next chunk: what arrived is kept
    await cut_off_patch(
        base_url, f"/api/uploads/{upload_id}", token, offset, content[offset:][: MiB * 5 // 2]
    )
    await wait_until_idle(engine, upload_id)
    kept = int((await head(client, url, headers)).headers["Upload-Offset"])
    assert offset < kept <= offset + 5 * MiB // 2

    progress = (await client.get(url, headers=headers)).json()
    assert progress == {
        "upload_id": upload_id,
        "received_bytes": kept,
        "total_bytes": len(content),
        "state": "receiving",
        "asset_id": None,
    }

    def resume() -> tuple[int, dict[str, str]]:
        # a new client, as after a restart: it asks the server for the offset (HEAD)
        uploader = Sha256Uploader(
            file_path=str(path),
            url=url,
            client=TusClient(f"{base_url}/api/uploads/", headers=headers),
            chunk_size=5 * MiB,
            upload_checksum=True,
        )
        start = uploader.offset
        uploader.upload()
        return start, uploader.request.response_headers

    resumed_at, last = await trio.to_thread.run_sync(resume)
    assert resumed_at == kept
    asset_id = last["asset-id"]
    asset = (await client.get(f"/api/assets/{asset_id}", headers=headers)).json()
    assert asset["checksum"] == hashlib.sha256(content).hexdigest()
    assert asset["size"] == len(content)
    assert asset["type"] == "audio"
    assert asset["original_filename"] == "big.wav"
    assert asset["metadata"]["title"] == "A big one"
    assert asset["metadata"]["folder"] == "/long/takes"
    assert asset["metadata"]["tags"] == ["a", "b"]
    download = await client.get(f"/api/assets/{asset_id}/download", headers=headers)
    assert hashlib.sha256(download.content).hexdigest() == asset["checksum"]
    assert temp_files(settings) == []
    finished = (await client.get(url, headers=headers)).json()
    assert finished["state"] == "committed" and finished["asset_id"] == asset_id
    answer = await head(client, url, headers)
    assert answer.headers["Upload-Offset"] == str(len(content))
    assert answer.headers["Asset-Id"] == asset_id
    # a finished upload takes no more bytes
    more = await patch(client, url, headers, len(content), b"more")
    assert more.status_code == 409


async def test_a_wrong_checksum_is_460_and_the_bytes_are_discarded(client, auth, settings):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    first, rest = TEXT_BYTES[:100], TEXT_BYTES[100:]
    for algorithm in ("sha1", "sha256"):
        wrong = await patch(
            client, url, headers, 0, first, **{"Upload-Checksum": checksum(algorithm, rest)}
        )
        assert wrong.status_code == 460, wrong.text
        assert wrong.headers["content-type"] == PROBLEM_JSON
        assert wrong.json()["title"] == "Checksum mismatch"
        assert (await head(client, url, headers)).headers["Upload-Offset"] == "0"
        assert temp_files(settings) == []
    right = await patch(
        client, url, headers, 0, first, **{"Upload-Checksum": checksum("sha1", first)}
    )
    assert right.status_code == 204 and right.headers["Upload-Offset"] == "100"
    unknown = await patch(client, url, headers, 100, rest, **{"Upload-Checksum": "md5 AAAA"})
    assert unknown.status_code == 400
    last = await patch(
        client, url, headers, 100, rest, **{"Upload-Checksum": checksum("sha256", rest)}
    )
    assert last.status_code == 204, last.text
    asset = (await client.get(f"/api/assets/{last.headers['Asset-Id']}", headers=headers)).json()
    assert asset["checksum"] == hashlib.sha256(TEXT_BYTES).hexdigest()


async def test_a_wrong_offset_is_409(client, auth):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    assert (await patch(client, url, headers, 5, TEXT_BYTES[5:])).status_code == 409
    assert (await patch(client, url, headers, 0, TEXT_BYTES[:10])).status_code == 204
    for offset in (0, 5, 11):
        conflict = await patch(client, url, headers, offset, TEXT_BYTES[offset:])
        assert conflict.status_code == 409, offset
        assert conflict.headers["content-type"] == PROBLEM_JSON
    assert (await head(client, url, headers)).headers["Upload-Offset"] == "10"


async def test_a_terminated_upload_leaves_nothing(client, auth, engine, settings):
    headers = auth()
    before = data_files(settings)
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt", title="gone")
    assert (await patch(client, url, headers, 0, TEXT_BYTES[:300])).status_code == 204
    assert (await patch(client, url, headers, 300, TEXT_BYTES[300:600])).status_code == 204
    assert temp_files(settings) != []
    terminated = await client.delete(url, headers={**headers, **TUS})
    assert terminated.status_code == 204
    assert data_files(settings) == before
    upload_id = url.rsplit("/", 1)[1]
    session = await engine.catalog.get_upload(upload_id)
    assert session.parts == [] and session.metadata == "" and session.fields == {}
    # gone, for every kind of request; and no bytes are taken
    assert (await head(client, url, headers)).status_code == 410
    assert (await client.get(url, headers=headers)).status_code == 410
    again = await patch(client, url, headers, 600, TEXT_BYTES[600:])
    assert again.status_code == 410
    assert again.json()["title"] == "Gone"
    assert (await client.delete(url, headers={**headers, **TUS})).status_code == 410
    assert data_files(settings) == before
    listed = await client.get("/api/library/document", headers=headers)
    assert listed.json()["items"] == []


# --- the rest of the protocol ----------------------------------------------------------------


async def test_options_describes_the_server_without_a_token(client, settings):
    answer = await client.options("/api/uploads/")
    assert answer.status_code in (200, 204)
    assert answer.headers["Tus-Version"] == "1.0.0"
    extensions = set(answer.headers["Tus-Extension"].split(","))
    assert {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "expiration",
        "checksum",
    } <= extensions
    assert answer.headers["Tus-Max-Size"] == str(settings.max_upload_bytes)
    assert set(answer.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}


async def test_protocol_refusals(client, auth, settings):
    headers = auth()
    lengths = {"Upload-Length": "10"}
    # no Tus-Resumable: 412, naming the version spoken here
    missing = await client.post("/api/uploads/", headers={**headers, **lengths})
    assert missing.status_code == 412 and missing.headers["Tus-Version"] == "1.0.0"
    assert missing.headers["content-type"] == PROBLEM_JSON
    old = await client.post("/api/uploads/", headers={**headers, **lengths, "Tus-Resumable": "0.2"})
    assert old.status_code == 412
    # the length: one of the two headers, within Tus-Max-Size
    for sizes in ({}, {"Upload-Length": "10", "Upload-Defer-Length": "1"}, {"Upload-Length": "x"}):
        answer = await client.post("/api/uploads/", headers={**headers, **TUS, **sizes})
        assert answer.status_code == 400, sizes
    too_big = {"Upload-Length": str(settings.max_upload_bytes + 1)}
    assert (
        await client.post("/api/uploads/", headers={**headers, **TUS, **too_big})
    ).status_code == 413
    bad_meta = {"Upload-Length": "10", "Upload-Metadata": "filename not-base64!"}
    assert (
        await client.post("/api/uploads/", headers={**headers, **TUS, **bad_meta})
    ).status_code == 400
    bad_folder = {"Upload-Length": "10", "Upload-Metadata": metadata(folder="../up")}
    assert (
        await client.post("/api/uploads/", headers={**headers, **TUS, **bad_folder})
    ).status_code == 400
    # no token, and a viewer: as every upload route
    assert (await client.post("/api/uploads/", headers={**TUS, **lengths})).status_code == 401
    viewer = auth(roles=("viewer",))
    assert (
        await client.post("/api/uploads/", headers={**viewer, **TUS, **lengths})
    ).status_code == 403
    url = await create(client, headers, 10, filename="ten.txt")
    # bytes must come as application/offset+octet-stream
    wrong_type = await client.patch(
        url,
        headers={**headers, **TUS, "Upload-Offset": "0", "Content-Type": "text/plain"},
        content=b"0123456789",
    )
    assert wrong_type.status_code == 415
    # more than the length: 413, and nothing kept
    assert (await patch(client, url, headers, 0, b"x" * 11)).status_code == 413
    assert (await head(client, url, headers)).headers["Upload-Offset"] == "0"
    assert temp_files(settings) == []
    assert (await patch(client, url, headers, 0, b"")).status_code == 204
    no_offset = await client.patch(url, headers={**headers, **TUS, **OFFSET_STREAM}, content=b"1")
    assert no_offset.status_code == 400
    # another customer's upload, another user's, and one that never was: the same 404
    for other in (auth(customer="globex", roles=("admin",)), auth(user="eddie")):
        assert (await head(client, url, other)).status_code == 404
        assert (await patch(client, url, other, 0, b"1")).status_code == 404
    assert (await head(client, "/api/uploads/0123456789abcdef", headers)).status_code == 404
    # the customer's admin may follow and end it
    admin = auth(user="ada", roles=("admin",))
    assert (await head(client, url, admin)).status_code == 200


async def test_deferred_length_and_creation_with_upload(client, auth):
    headers = auth()
    first, rest = TEXT_BYTES[:500], TEXT_BYTES[500:]
    created = await client.post(
        "/api/uploads",  # without the trailing slash too
        headers={
            **headers,
            **TUS,
            **OFFSET_STREAM,
            "Upload-Defer-Length": "1",
            "Upload-Metadata": metadata(filename="notes.txt", category="memos", type="document"),
        },
        content=first,
    )
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Offset"] == str(len(first))
    url = created.headers["Location"]
    status = await head(client, url, headers)
    assert status.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in status.headers
    assert status.headers["Upload-Metadata"] == metadata(
        filename="notes.txt", category="memos", type="document"
    )
    assert (await client.get(url, headers=headers)).json()["total_bytes"] is None
    # the length comes with a later PATCH; the last one answers with the asset
    done = await patch(
        client, url, headers, len(first), rest, **{"Upload-Length": str(len(TEXT_BYTES))}
    )
    assert done.status_code == 204, done.text
    asset_id = done.headers["Asset-Id"]
    record = (await client.get(f"/api/assets/{asset_id}", headers=headers)).json()
    assert record["category"] == "memos" and record["type"] == "document"
    assert record["checksum"] == hashlib.sha256(TEXT_BYTES).hexdigest()
    # the whole file in the creation request: 201 with the asset at once
    whole = await client.post(
        "/api/uploads/",
        headers={
            **headers,
            **TUS,
            **OFFSET_STREAM,
            "Upload-Length": str(len(TEXT_BYTES)),
            "Upload-Metadata": metadata(filename="again.txt"),
        },
        content=TEXT_BYTES,
    )
    assert whole.status_code == 201, whole.text
    assert whole.headers["Upload-Offset"] == str(len(TEXT_BYTES))
    assert "Asset-Id" in whole.headers


async def test_content_the_service_refuses_fails_the_upload_with_its_4xx(
    client, auth, settings, engine
):
    headers = auth()
    noise = os.urandom(4096)
    url = await create(client, headers, len(noise), filename="noise.bin")
    assert (await patch(client, url, headers, 0, noise[:1000])).status_code == 204
    refused = await patch(client, url, headers, 1000, noise[1000:])
    assert refused.status_code == 415, refused.text
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert temp_files(settings) == []
    progress = (await client.get(url, headers=headers)).json()
    assert progress["state"] == "failed" and progress["asset_id"] is None
    assert "no type" in progress["error"]
    assert (await head(client, url, headers)).status_code == 410
    assert (await patch(client, url, headers, len(noise), b"")).status_code == 410
    # a declared type the bytes are not: refused as the multipart upload refuses it
    url = await create(client, headers, len(TEXT_BYTES), filename="a.txt", type="audio")
    assert (await patch(client, url, headers, 0, TEXT_BYTES)).status_code == 415


async def test_another_instance_continues_the_upload(client, auth, settings, nursery):
    """Sessions live in the catalog and the temp area: a second instance (its own engine and
    adapters over the same stores) takes the next bytes and commits."""
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    assert (await patch(client, url, headers, 0, TEXT_BYTES[:700])).status_code == 204
    async with running_engine(settings) as second:
        second_url = await start_server(nursery, second, settings)
        async with httpx.AsyncClient(base_url=second_url, timeout=30) as other:
            status = await head(other, url, headers)
            assert status.headers["Upload-Offset"] == "700"
            done = await patch(other, url, headers, 700, TEXT_BYTES[700:])
            assert done.status_code == 204, done.text
            asset_id = done.headers["Asset-Id"]
    record = await client.get(f"/api/assets/{asset_id}", headers=headers)
    assert record.json()["checksum"] == hashlib.sha256(TEXT_BYTES).hexdigest()
    assert temp_files(settings) == []


async def test_two_appends_at_one_offset_one_wins(client, auth, engine):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    answers: list[int] = []

    async def send(content: bytes) -> None:
        answers.append((await patch(client, url, headers, 0, content)).status_code)

    async with trio.open_nursery() as both:
        both.start_soon(send, TEXT_BYTES[:400])
        both.start_soon(send, TEXT_BYTES[:600])
    assert sorted(answers) == [204, 409]
    offset = int((await head(client, url, headers)).headers["Upload-Offset"])
    assert offset in (400, 600)
    # the loser's part is gone: only the winner's bytes are stored
    session = await engine.catalog.get_upload(url.rsplit("/", 1)[1])
    assert [part.size for part in session.parts] == [offset]


async def test_expired_uploads_are_removed_by_the_cleanup(client, auth, engine, settings):
    headers = auth()
    before = data_files(settings)
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    assert (await patch(client, url, headers, 0, TEXT_BYTES[:200])).status_code == 204
    upload_id = url.rsplit("/", 1)[1]
    session = await engine.catalog.get_upload(upload_id)
    session.expires_at = utc_now() - timedelta(seconds=1)
    session.revision += 1
    assert await engine.catalog.replace_upload(session, session.revision - 1)
    assert (await patch(client, url, headers, 200, TEXT_BYTES[200:])).status_code == 410
    report = await engine.run_cleanup()
    assert report.uploads_expired == 1
    assert await engine.catalog.get_upload(upload_id) is None
    assert data_files(settings) == before
    assert (await head(client, url, headers)).status_code == 404


async def test_a_live_session_outlives_the_temp_ttl(client, auth, engine, settings):
    """The temp sweep spares the parts of a session that has not expired, however old."""
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    assert (await patch(client, url, headers, 0, TEXT_BYTES[:200])).status_code == 204
    engine._cleanup._policy = type(engine._cleanup._policy)(0.0, 3600.0, 3600.0)
    report = await engine.run_cleanup()
    assert report.temp_removed == 0 and report.uploads_expired == 0
    done = await patch(client, url, headers, 200, TEXT_BYTES[200:])
    assert done.status_code == 204, done.text


# --- progress of multipart uploads -------------------------------------------------------------


async def test_progress_of_a_multipart_upload_sent_with_an_upload_id(client, auth):
    headers = auth()
    answer = await client.post(
        "/api/assets/upload",
        headers={**headers, "X-Upload-Id": "my-upload-0001"},
        files={"file": ("notes.txt", TEXT_BYTES, "text/plain")},
    )
    assert answer.status_code == 201
    progress = await client.get("/api/uploads/my-upload-0001", headers=headers)
    assert progress.status_code == 200
    assert progress.json() == {
        "upload_id": "my-upload-0001",
        # one unit (file bytes): committed means received == total (issue 13)
        "received_bytes": len(TEXT_BYTES),
        "total_bytes": len(TEXT_BYTES),
        "state": "committed",
        "asset_id": answer.json()["asset_id"],
    }
    assert progress.headers["Cache-Control"] == "no-store"
    admin = auth(user="ada", roles=("admin",))
    assert (await client.get("/api/uploads/my-upload-0001", headers=admin)).status_code == 200
    for other in (auth(user="eddie"), auth(customer="globex", roles=("admin",))):
        missing = await client.get("/api/uploads/my-upload-0001", headers=other)
        assert missing.status_code == 404
    assert (await client.get("/api/uploads/my-upload-0001")).status_code == 401


# --- CORS ------------------------------------------------------------------------------------


@pytest.mark.file_store_only
async def test_cors_for_the_configured_origins(engine, settings, nursery, auth):
    origin = "https://app.example.com"
    settings = with_settings(settings, cors_origins=(origin,))
    base_url = await start_server(nursery, engine, settings)
    async with httpx.AsyncClient(base_url=base_url) as client:
        preflight = await client.options(
            "/api/uploads/",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, tus-resumable, upload-length",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        for name in ("authorization", "tus-resumable", "upload-length", "upload-offset"):
            assert name in allowed
        assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
        headers = {**auth(), "Origin": origin}
        created = await client.post(
            "/api/uploads/",
            headers={**headers, **TUS, "Upload-Length": str(len(TEXT_BYTES))},
        )
        exposed = created.headers["Access-Control-Expose-Headers"]
        for name in ("Location", "Upload-Offset", "Upload-Expires", "Asset-Id", "Tus-Resumable"):
            assert name in exposed
        done = await patch(client, created.headers["Location"], headers, 0, TEXT_BYTES)
        assert done.headers["Access-Control-Allow-Origin"] == origin and "Asset-Id" in done.headers
        # errors too, so a browser can read the problem
        refused = await client.get("/api/assets/search", headers={"Origin": origin})
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == origin
        # another origin gets nothing
        stranger = await client.options(
            "/api/uploads/",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "Access-Control-Allow-Origin" not in stranger.headers


async def test_cors_is_off_unless_configured(client):
    answer = await client.options(
        "/api/uploads/",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in answer.headers
