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
connection is closed (code 4001) when the token expires.

Every instance's events come through the shared event log, each with its ``"id"``; with
``?since=ID`` the socket first replays the events after that one the caller may see, then goes
on live, with no gap or repeat. An id the log no longer holds gets a ``gone`` message and a
close (4010): the client reloads its view. A malformed ``since`` is closed with 4000. A client
that reads too slowly is closed with 1013 and the last id it was sent, to resume from.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import trio
from quart import Blueprint, websocket

from asset_service.engine.errors import AssetServiceError
from asset_service.engine.event_log import parse_event_id
from asset_service.engine.event_subscription import (
    Delivered,
    EventsGone,
    EventsUnavailable,
    Subscription,
)
from asset_service.engine.events import visible_to
from asset_service.engine.model import Principal, utc_now

from ..auth import principal_of
from ..context import services
from ..origins import OriginPolicy
from ..problems import HTTPProblem, unauthorized

blueprint = Blueprint("events", __name__)

#: close codes (4000 to 4999: the application's own), after HTTP's 400, 401, 403 and 410
BAD_REQUEST = 4000
UNAUTHENTICATED = 4001
FORBIDDEN = 4003
GONE = 4010
#: RFC 6455's "try again later": the client fell behind, or the event log can't be read
TRY_AGAIN_LATER = 1013
TOKEN_EXPIRED = UNAUTHENTICATED
#: a close frame's reason is at most 123 bytes of UTF-8
MAX_REASON = 123


def event_json(delivered: Delivered) -> dict[str, Any]:
    event = delivered.event
    return {"id": delivered.id, "event": event.name, "at": event.at, "data": event.data}


def _since() -> int | None:
    """``?since=``: ``ValueError`` (its message for the client) unless an id."""
    given = websocket.args.getlist("since")
    if not given:
        return None
    if len(given) > 1:
        raise ValueError("give it once")
    return parse_event_id(given[0])


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
    try:
        since = _since()
    except ValueError as error:
        await _refuse(BAD_REQUEST, ValueError(f"since: {error}"))
        return
    deadline = _seconds_left(token) + svc.tokens.leeway
    # Subscribed before the handshake completes: whatever the client does once connected,
    # its events are not missed.
    try:
        async with svc.engine.events.subscribe(since) as stream:
            await websocket.accept()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain)
                code, reason = TOKEN_EXPIRED, "the token has expired"
                with trio.move_on_after(max(deadline, 0)):
                    try:
                        last = await _forward(principal, stream)
                    except EventsUnavailable as error:
                        code, reason = TRY_AGAIN_LATER, str(error)
                    else:
                        code = TRY_AGAIN_LATER
                        reason = f"too slow: reconnect with since={last}" if last else "too slow"
                await websocket.close(code, reason)
                nursery.cancel_scope.cancel()
    except EventsGone as error:
        await websocket.accept()
        gone = {"event": "gone", "at": utc_now().isoformat(), "data": {"since": str(since)}}
        await websocket.send(json.dumps(gone))
        await websocket.close(GONE, _close_reason(ValueError(f"{error}: reload")))
    except EventsUnavailable as error:
        await _refuse(TRY_AGAIN_LATER, error)


async def _forward(principal: Principal, stream: Subscription) -> str | None:
    """Until the stream ends (the subscriber fell behind); the last id sent."""
    last = None
    async for delivered in stream:
        if visible_to(delivered.event, principal):
            await websocket.send(json.dumps(event_json(delivered)))
        last = delivered.id  # resuming after an event the caller may not see loses nothing
    return last


async def _drain() -> None:
    """Read and drop what the client sends, so nothing it sends piles up."""
    while True:
        await websocket.receive()
