"""``WebSocket /api/events``: the caller's customer's events as they happen, one JSON text
message each — ``{"event": name, "at": ISO time, "data": {...}}`` for ``upload.progress``,
``asset.created|updated|deleted|restored|purged|preview_ready|preview_failed`` and
``version.created``.

The token comes as ``?token=`` (browsers can't set headers on a WebSocket) or in the
``Authorization`` header; a service token names its customer in ``X-Customer-Id`` or
``?customer_id=``. A refused handshake is an HTTP problem document (401, 400). Events of a
private asset and an upload's progress go to their owner and the customer's admins only. The
connection is closed (code 4001) when the token expires; a client that reads too slowly loses
events rather than holding anything up.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import trio
from quart import Blueprint, websocket

from asset_service.engine.events import Event, visible_to
from asset_service.engine.model import Principal

from ..auth import principal_of
from ..context import services
from ..problems import unauthorized

blueprint = Blueprint("events", __name__)

#: close code when the token runs out (4000 to 4999: the application's own)
TOKEN_EXPIRED = 4001


def event_json(event: Event) -> dict[str, Any]:
    return {"event": event.name, "at": event.at, "data": event.data}


def _token() -> str:
    header = websocket.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("expected 'Authorization: Bearer <token>'")
        return token.strip()
    token = websocket.args.get("token", "").strip()
    if not token:
        raise unauthorized("this needs ?token=<token> or 'Authorization: Bearer <token>'")
    return token


def _seconds_left(token: str) -> float:
    """Until the (verified) token's ``exp``."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"]) - time.time()


@blueprint.websocket("/api/events")
async def events() -> None:
    svc = services()
    token = _token()
    on_behalf_of = websocket.headers.get("X-Customer-Id") or websocket.args.get("customer_id")
    principal = principal_of(svc.tokens, token, on_behalf_of)
    deadline = _seconds_left(token) + svc.tokens.leeway
    # Subscribed before the handshake completes: whatever the client does once connected,
    # its events are not missed.
    async with svc.engine.hub.subscribe() as stream:
        await websocket.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain)
            with trio.move_on_after(max(deadline, 0)):
                await _forward(principal, stream)
            await websocket.close(TOKEN_EXPIRED, "the token has expired")
            nursery.cancel_scope.cancel()


async def _forward(principal: Principal, stream: trio.MemoryReceiveChannel[Event]) -> None:
    async for event in stream:
        if visible_to(event, principal):
            await websocket.send(json.dumps(event_json(event)))


async def _drain() -> None:
    """Read and drop what the client sends, so nothing it sends piles up."""
    while True:
        await websocket.receive()
