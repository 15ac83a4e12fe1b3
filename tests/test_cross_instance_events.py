"""Every instance sees everything (issue 15): two real ``asset-service serve`` processes on one
shared SQLite data dir, and on one S3 stand-in (moto) with one MongoDB wire server
(nx-27017). An upload taken by A is announced on B's WebSocket, its progress is readable on B
while it runs and, the moment A's ``201`` is out, its committed state with the ``asset_id``;
a client that reconnects with ``since`` gets exactly what it missed, then live events, with no
gap or repeat; an id the log no longer holds is ``gone``, a malformed one a 4000."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from tests.api.helpers import TEXT_BYTES, file_part, multipart, multipart_type
from tests.backends import moto_s3_url, new_bucket_prefix
from tests.server_process import ServerProcess, mint_token, server_env

# One worker runs the module (``make test`` distributes by group): its two pairs of servers are
# started once, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cross-instance-events")]


@pytest.fixture(scope="module", params=["sqlite", "moto+nx"])
def instances(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A and B, sharing their backends; previews off (nothing here needs them)."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    shared: dict[str, object] = {"previews": "off"}
    if request.param == "moto+nx":
        moto_url = request.getfixturevalue("moto_url")
        nx_url = request.getfixturevalue("nx_url")
        shared["blob_store"] = moto_s3_url(moto_url, new_bucket_prefix())
        shared["catalog"] = f"{nx_url}/asset_cross_{uuid.uuid4().hex[:12]}"
    with (
        ServerProcess(server_env(data_dir, **shared)) as a,
        ServerProcess(server_env(data_dir, **shared)) as b,
    ):
        yield a, b


def ws_url(server: ServerProcess, token: str, since: str | None = None) -> str:
    url = f"ws://{server.host}:{server.port}/api/events?token={token}"
    return url + (f"&since={since}" if since is not None else "")


async def until(
    ws: WebSocketConnection, done: Callable[[dict[str, Any]], bool], seconds: float = 10
) -> list[dict[str, Any]]:
    seen = []
    with trio.fail_after(seconds):
        while True:
            seen.append(json.loads(await ws.get_message()))
            if done(seen[-1]):
                return seen


async def slowly(body: bytes, pieces: int, pause: float) -> AsyncIterator[bytes]:
    size = -(-len(body) // pieces)
    for start in range(0, len(body), size):
        yield body[start : start + size]
        await trio.sleep(pause)


def created(asset_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["event"] == "asset.created" and m["data"]["asset_id"] == asset_id


async def upload(client: httpx.AsyncClient, token: str, name: str) -> str:
    answer = await client.post(
        "/api/assets/upload",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (name, TEXT_BYTES, "text/plain")},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["asset_id"]


async def test_an_upload_on_a_is_announced_and_its_progress_readable_on_b(instances):
    a, b = instances
    token = mint_token(user="alice", customer="acme")
    auth = {"Authorization": f"Bearer {token}"}
    upload_id = f"cross-{uuid.uuid4().hex[:12]}"
    # ~3 MB (the service hands the upload actor chunks of up to 1 MiB), sent in 8 pieces
    # 0.3 s apart: progress to read in between
    content = TEXT_BYTES * 2500
    body = multipart([file_part(content, "notes.txt", "text/plain")])
    on_b_while_running: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=20) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=20) as on_b,
        open_websocket_url(ws_url(b, token)) as ws_b,
    ):

        async def watch_progress_on_b(done: trio.Event) -> None:
            while not done.is_set():
                answer = await on_b.get(f"/api/uploads/{upload_id}", headers=auth)
                if answer.status_code == 200:
                    on_b_while_running.append(answer.json())
                await trio.sleep(0.1)

        done = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_progress_on_b, done)
            answer = await on_a.post(
                "/api/assets/upload",
                headers={
                    **auth,
                    "Content-Type": multipart_type(),
                    "Content-Length": str(len(body)),
                    "X-Upload-Id": upload_id,
                },
                content=slowly(body, 8, 0.3),
            )
            done.set()
        assert answer.status_code == 201, answer.text
        asset_id = answer.json()["asset_id"]
        # right after A's 201, B reads the committed state with the asset id
        after = await on_b.get(f"/api/uploads/{upload_id}", headers=auth)
        assert after.status_code == 200, after.text
        assert after.json()["state"] == "committed"
        assert after.json()["asset_id"] == asset_id
        assert after.json()["received_bytes"] == len(content)
        # another user of the customer (not an admin) may not read it on B either
        other = {"Authorization": f"Bearer {mint_token(user='bob', customer='acme')}"}
        assert (await on_b.get(f"/api/uploads/{upload_id}", headers=other)).status_code == 404
        seen = await until(ws_b, created(asset_id))

    receiving = [p for p in on_b_while_running if p["state"] == "receiving"]
    # B saw the upload part-way (its last "receiving" may already count every byte: the
    # state turns to committing only once the commit starts)
    assert any(0 < p["received_bytes"] < len(content) for p in receiving), on_b_while_running
    mine = [m for m in seen if m["data"].get("upload_id") == upload_id]
    assert mine and mine[-1]["data"]["state"] == "committed"
    assert mine[-1]["data"]["asset_id"] == asset_id
    assert any(m["data"]["state"] == "receiving" for m in mine)
    ids = [int(m["id"]) for m in seen]
    assert ids == sorted(set(ids)), "ids increase, each once"
    assert all(set(m) == {"id", "event", "at", "data"} for m in seen)


async def test_a_client_that_reconnects_with_since_misses_nothing_and_sees_nothing_twice(
    instances,
):
    a, b = instances
    token = mint_token(user="alice", customer="acme")
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=20) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=20) as on_b,
        open_websocket_url(ws_url(a, token)) as always,  # the reference: never disconnected
    ):
        async with open_websocket_url(ws_url(b, token)) as first:
            asset_1 = await upload(on_a, token, "one.txt")
            before = await until(first, created(asset_1))
        last_seen = before[-1]["id"]
        # while the client is away: uploads on both instances
        asset_2 = await upload(on_a, token, "two.txt")
        asset_3 = await upload(on_b, token, "three.txt")
        async with open_websocket_url(ws_url(b, token, since=last_seen)) as resumed:
            asset_4 = await upload(on_a, token, "four.txt")  # live, after the replay
            after = await until(resumed, created(asset_4))
            with trio.move_on_after(0.5):  # and nothing more
                after.append(json.loads(await resumed.get_message()))
        reference = await until(always, created(asset_4))

    start = [m["id"] for m in reference].index(last_seen)
    assert [m["id"] for m in after] == [m["id"] for m in reference[start + 1 :]]
    assert after == reference[start + 1 :]
    announced = [m["data"]["asset_id"] for m in after if m["event"] == "asset.created"]
    assert announced == [asset_2, asset_3, asset_4]


async def test_an_id_no_longer_kept_is_gone_and_a_malformed_one_refused(instances):
    a, b = instances
    token = mint_token(user="alice", customer="acme")
    async with open_websocket_url(ws_url(b, token, since="999999999999")) as ws:
        gone = json.loads(await ws.get_message())
        assert gone["event"] == "gone" and gone["data"] == {"since": "999999999999"}
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 4010
    for hostile in ("abc", "-1", "1e3", "0x10", "9" * 19, "%00", "1;2"):
        async with open_websocket_url(ws_url(a, token, since=hostile)) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason.code == 4000, hostile
        assert "since" in (closed.value.reason.reason or "")
    # the servers are still there
    async with httpx.AsyncClient(base_url=a.base_url, timeout=20) as on_a:
        assert (await on_a.get("/healthz")).status_code == 200
