"""``WebSocket /api/events``: the caller's customer's events as they happen, one JSON text
message each — ``{"event": name, "at": ISO time, "data": {...}}`` for ``upload.progress``,
``asset.created|updated|deleted|restored|purged|preview_ready|preview_failed`` and
``version.created``.

The token comes as ``?token=`` (browsers can't set headers on a WebSocket) or in the
``Authorization`` header; a service token names its customer in ``X-Customer-Id`` or
``?customer_id=``. With ``ASSET_CORS_ORIGINS`` set, a handshake from another browser origin is
refused with a 403 problem document before the upgrade (a WebSocket is not subject to CORS, so
the check is the server's). A missing or bad token is accepted and then closed at once with a
code a browser can read — a refused handshake reaches its script as a bare 1006 — 4001
(unauthenticated) or 4003 (forbidden), the reason in the close frame. Events of a
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

from asset_service.engine.errors import AssetServiceError
from asset_service.engine.events import Event, visible_to
from asset_service.engine.model import Principal

from ..auth import principal_of
from ..context import services
from ..origins import OriginPolicy
from ..problems import HTTPProblem, unauthorized

blueprint = Blueprint("events", __name__)

#: close codes (4000 to 4999: the application's own), after HTTP's 401 and 403
UNAUTHENTICATED = 4001
FORBIDDEN = 4003
TOKEN_EXPIRED = UNAUTHENTICATED
#: a close frame's reason is at most 123 bytes of UTF-8
MAX_REASON = 123


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


def _check_origin() -> None:
    """A browser always sends ``Origin`` on a WebSocket handshake; other clients need not."""
    origin = websocket.headers.get("Origin")
    policy = OriginPolicy(services().settings.cors_origins)
    if origin is not None and policy.configured and not policy.allows(origin):
        raise HTTPProblem(403, "Forbidden", f"the origin {origin!r} may not use this API")


def _close_reason(error: Exception) -> str:
    reason = getattr(error, "detail", None) or getattr(error, "reason", None) or str(error)
    return reason.encode()[:MAX_REASON].decode(errors="ignore")


async def _refuse(code: int, error: Exception) -> None:
    await websocket.accept()
    await websocket.close(code, _close_reason(error))


@blueprint.websocket("/api/events")
async def events() -> None:
    svc = services()
    _check_origin()
    try:
        token = _token()
        on_behalf_of = websocket.headers.get("X-Customer-Id") or websocket.args.get("customer_id")
        principal = principal_of(svc.tokens, token, on_behalf_of)
    except HTTPProblem as error:
        await _refuse(UNAUTHENTICATED if error.status == 401 else FORBIDDEN, error)
        return
    except AssetServiceError as error:
        # a token that is valid but can't be used as it came (a service naming no customer)
        await _refuse(FORBIDDEN, error)
        return
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
