"""``WebSocket /api/events`` (issue 7): a watcher sees its upload's progress, strictly
increasing and at most every 250 ms, then ``asset.created`` for it — and nothing of another
customer; tokens as ``?token=`` or ``Authorization``; a refused handshake."""

from __future__ import annotations

import io
import itertools
import json
import wave
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
)

from tests.conftest import start_server, with_settings

from .helpers import TEXT_BYTES, file_part, multipart, multipart_type

MiB = 1024 * 1024
PROGRESS_INTERVAL = 0.25


def wav(size: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * (size // 256))
    return buffer.getvalue()


def ws_url(base_url: str, token: str | None = None) -> str:
    url = base_url.replace("http://", "ws://") + "/api/events"
    return f"{url}?token={token}" if token else url


async def slowly(body: bytes, pieces: int, pause: float) -> AsyncIterator[bytes]:
    size = -(-len(body) // pieces)
    for start in range(0, len(body), size):
        yield body[start : start + size]
        await trio.sleep(pause)


async def events_until(
    ws: WebSocketConnection, done: Any, seconds: float = 20
) -> list[dict[str, Any]]:
    """Messages until ``done(message)``."""
    seen = []
    with trio.fail_after(seconds):
        while True:
            message = json.loads(await ws.get_message())
            seen.append(message)
            if done(message):
                return seen


async def test_a_watcher_sees_increasing_progress_then_asset_created_and_nothing_else(
    base_url, client, make_token, auth
):
    token = make_token(user="alice", customer="acme")
    content = wav(6 * MiB)
    body = multipart([file_part(content, "take.wav", "audio/wav")])
    theirs: dict[str, str] = {}
    async with open_websocket_url(ws_url(base_url, token)) as ws:

        async def other_customer() -> None:
            answer = await client.post(
                "/api/assets/upload",
                headers={**auth(user="gina", customer="globex"), "X-Upload-Id": "globex-upload-1"},
                files={"file": ("g.txt", TEXT_BYTES, "text/plain")},
            )
            assert answer.status_code == 201
            theirs["asset_id"] = answer.json()["asset_id"]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other_customer)
            answer = await client.post(
                "/api/assets/upload",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": multipart_type(),
                    "Content-Length": str(len(body)),
                    "X-Upload-Id": "watched-upload-1",
                },
                content=slowly(body, 12, 0.15),
            )
        assert answer.status_code == 201, answer.text
        asset_id = answer.json()["asset_id"]
        seen = await events_until(
            ws, lambda m: m["event"] == "asset.created" and m["data"]["asset_id"] == asset_id
        )

    mine = [m for m in seen if m["data"].get("upload_id") == "watched-upload-1"]
    assert all(m["event"] == "upload.progress" for m in mine)
    receiving = [m for m in mine if m["data"]["state"] == "receiving"]
    counts = [m["data"]["received_bytes"] for m in receiving]
    assert len(counts) >= 3, counts
    assert counts == sorted(set(counts)), f"not strictly increasing: {counts}"
    times = [datetime.fromisoformat(m["at"]).timestamp() for m in receiving]
    # published at most every 250 ms (``at`` is to the millisecond)
    assert all(b - a >= PROGRESS_INTERVAL - 0.002 for a, b in itertools.pairwise(times)), times
    assert [m["data"]["state"] for m in mine][-1] == "committed"
    assert mine[-1]["data"]["asset_id"] == asset_id
    assert mine[-1]["data"]["received_bytes"] == len(content)
    # file bytes throughout: while the body streams, its length bounds the file's; from
    # ``committing`` on, the total is the file's size, so ``committed`` means received == total
    assert all(m["data"]["total_bytes"] == len(body) for m in receiving)
    settled = [m for m in mine if m["data"]["state"] != "receiving"]
    assert [m["data"]["state"] for m in settled] == ["committing", "committed"]
    assert all(m["data"]["total_bytes"] == len(content) for m in settled)
    assert seen[-1]["event"] == "asset.created"
    # what a list needs to draw the new row, without asking for the record
    assert seen[-1]["data"] | {"revision": 1} == {
        "asset_id": asset_id,
        "type": "audio",
        "revision": 1,
        "name": "take.wav",
        "size": len(content),
        "folder": "/",
    }
    assert seen.index(mine[-1]) < len(seen) - 1
    # nothing of globex: neither its upload nor its asset
    text = json.dumps(seen)
    assert "globex-upload-1" not in text and theirs["asset_id"] not in text


async def test_tus_progress_and_asset_events_with_the_token_in_a_header(
    base_url, client, make_token
):
    token = make_token(user="alice", customer="acme")
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    async with open_websocket_url(
        ws_url(base_url), extra_headers=[("Authorization", f"Bearer {token}")]
    ) as ws:
        created = await client.post(
            "/api/uploads/", headers={**headers, "Upload-Length": str(len(TEXT_BYTES))}
        )
        url = created.headers["Location"]
        upload_id = url.rsplit("/", 1)[1]
        sent = 0
        for piece in (TEXT_BYTES[:300], TEXT_BYTES[300:900], TEXT_BYTES[900:]):
            answer = await client.patch(
                url,
                headers={
                    **headers,
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(sent),
                },
                content=piece,
            )
            assert answer.status_code == 204, answer.text
            sent += len(piece)
            await trio.sleep(PROGRESS_INTERVAL)
        asset_id = answer.headers["Asset-Id"]
        seen = await events_until(
            ws, lambda m: m["event"] == "asset.created" and m["data"]["asset_id"] == asset_id
        )
        edited = await client.put(
            f"/api/assets/{asset_id}",
            headers={"Authorization": f"Bearer {token}"},
            json={"title": "x"},
        )
        assert edited.status_code == 200
        updated = await events_until(ws, lambda m: m["event"] == "asset.updated")
    progress = [m["data"] for m in seen if m["data"].get("upload_id") == upload_id]
    counts = [p["received_bytes"] for p in progress if p["state"] == "receiving"]
    assert counts == [300, 900, len(TEXT_BYTES)]
    assert [p["state"] for p in progress][-2:] == ["committing", "committed"]
    assert progress[-1]["asset_id"] == asset_id
    assert updated[-1]["data"]["asset_id"] == asset_id


@pytest.mark.file_store_only
async def test_private_assets_events_are_for_their_owner_and_admins(base_url, client, make_token):
    owner = make_token(user="owen", customer="acme")
    colleague = make_token(user="eddie", customer="acme")
    admin = make_token(user="ada", customer="acme", roles=("admin",))
    async with (
        open_websocket_url(ws_url(base_url, colleague)) as theirs,
        open_websocket_url(ws_url(base_url, admin)) as admins,
    ):
        for visibility in ("private", "customer"):
            answer = await client.post(
                "/api/assets/upload",
                headers={"Authorization": f"Bearer {owner}"},
                files={"file": ("n.txt", TEXT_BYTES, "text/plain")},
                data={"visibility": visibility},
            )
            assert answer.status_code == 201
        public_id = answer.json()["asset_id"]
        seen_by_admin = await events_until(
            admins, lambda m: m["event"] == "asset.created" and m["data"]["asset_id"] == public_id
        )
        seen_by_colleague = await events_until(theirs, lambda m: m["event"] == "asset.created")
    assert len([m for m in seen_by_admin if m["event"] == "asset.created"]) == 2
    # the colleague's first asset.created is the customer-visible one; no progress of owen's
    assert seen_by_colleague[-1]["data"]["asset_id"] == public_id
    assert all(m["event"] != "upload.progress" for m in seen_by_colleague)


async def closed_at_once(url: str, **options: Any) -> tuple[int | None, str | None]:
    """Connect, and return the close code and reason the server ends the connection with."""
    with trio.fail_after(10):
        async with open_websocket_url(url, **options) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
            return ws.closed.code, ws.closed.reason


@pytest.mark.file_store_only
@pytest.mark.parametrize("token", [None, "not-a-jwt"])
async def test_a_connection_without_a_valid_token_is_closed_with_4001(base_url, token):
    """A refused handshake reaches a browser's script as a bare 1006: the connection is
    accepted, then closed with a code and reason the script can read."""
    code, reason = await closed_at_once(ws_url(base_url, token))
    assert code == 4001
    assert reason and ("token" in reason or "Bearer" in reason)


@pytest.mark.file_store_only
async def test_a_service_names_its_customer(base_url, make_token):
    service = make_token(user="billing", customer="internal", roles=("service",))
    code, reason = await closed_at_once(ws_url(base_url, service))
    assert code == 4003 and "X-Customer-Id" in reason
    url = ws_url(base_url, service) + "&customer_id=acme"
    async with open_websocket_url(url) as ws:
        assert not ws.closed


@pytest.mark.file_store_only
async def test_other_origins_are_refused_before_the_upgrade(engine, settings, nursery, make_token):
    settings = with_settings(
        settings, cors_origins=("https://app.example.com", "http://localhost:*")
    )
    base_url = await start_server(nursery, engine, settings)
    url = ws_url(base_url, make_token())
    for origin in ("https://evil.example", "http://localhost.evil.example:80"):
        with pytest.raises(ConnectionRejected) as refused:
            async with open_websocket_url(url, extra_headers=[("Origin", origin)]):
                pass
        assert refused.value.status_code == 403
        assert json.loads(refused.value.body)["status"] == 403
    # the configured origins, a pattern's, and clients that send no Origin (not browsers)
    for headers in (
        [("Origin", "https://app.example.com")],
        [("Origin", "http://localhost:5173")],
        [],
    ):
        async with open_websocket_url(url, extra_headers=headers) as ws:
            assert not ws.closed


@pytest.mark.file_store_only
async def test_the_connection_closes_when_the_token_expires(base_url, make_token):
    token = make_token(ttl=1)
    async with open_websocket_url(ws_url(base_url, token)) as ws:
        with trio.fail_after(15):
            while True:
                try:
                    await ws.get_message()
                except Exception:
                    break
        assert ws.closed.code == 4001


@pytest.mark.file_store_only
async def test_every_event_has_an_id_and_since_resumes_after_it(base_url, client, make_token):
    token = make_token(user="alice", customer="acme")
    auth = {"Authorization": f"Bearer {token}"}

    async def upload(name: str) -> str:
        answer = await client.post(
            "/api/assets/upload", headers=auth, files={"file": (name, TEXT_BYTES, "text/plain")}
        )
        assert answer.status_code == 201
        return answer.json()["asset_id"]

    def created(asset_id: str) -> Any:
        return lambda m: m["event"] == "asset.created" and m["data"]["asset_id"] == asset_id

    async with open_websocket_url(ws_url(base_url, token)) as ws:
        first = await events_until(ws, created(await upload("a.txt")))
    assert all(set(m) == {"id", "event", "at", "data"} for m in first)
    ids = [int(m["id"]) for m in first]
    assert ids == sorted(set(ids))
    second_id = await upload("b.txt")
    async with open_websocket_url(ws_url(base_url, token) + f"&since={first[-1]['id']}") as ws:
        resumed = await events_until(ws, created(second_id))
    assert int(resumed[0]["id"]) == ids[-1] + 1
    assert [m["data"].get("upload_id") is not None for m in resumed][-1] is False


@pytest.mark.file_store_only
@pytest.mark.parametrize(
    "since", ["", "abc", "-1", "1.5", "0x1f", "9" * 19, "%F0%9F%92%A5", "1%00", "1&since=2"]
)
async def test_a_malformed_since_is_closed_with_4000(base_url, make_token, since):
    code, reason = await closed_at_once(ws_url(base_url, make_token()) + f"&since={since}")
    assert code == 4000
    assert reason and reason.startswith("since:")


@pytest.mark.file_store_only
async def test_an_id_no_longer_kept_gets_gone_then_a_close(base_url, make_token):
    async with open_websocket_url(ws_url(base_url, make_token()) + "&since=123456789") as ws:
        message = json.loads(await ws.get_message())
        assert message["event"] == "gone"
        assert message["data"] == {"since": "123456789"}
        with pytest.raises(ConnectionClosed):
            await ws.get_message()
        assert ws.closed.code == 4010
