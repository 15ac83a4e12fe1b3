"""The lean download path: an ASGI layer in front of Quart that answers the common downloads
(``GET``/``HEAD /api/assets/{id}/download`` — bearer token, anonymous public, signed link;
whole file, one range, 304) with raw ASGI messages, skipping Quart's request context, URL
matching and response objects, which cost more per request than sending a megabyte.

What it answers is decided by the same functions as the Quart route (``downloads``), and it
sends what Quart would send: the same headers in the same order (CORS ones included, as the
``after_request`` hook adds them), the same route label for the metrics. Anything else — an
error of any kind (problem JSON, plain-text refusals), a 416, ``?redirect=1``, a query it does
not read exactly as werkzeug would, a request with a body — is handed to Quart untouched, which
decides it again from the start (nothing has been sent yet). docs/decisions.md, "Lean
downloads"."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent

from .auth import authenticate_headers
from .context import Services
from .cors import cors_headers
from .downloads import (
    DOWNLOAD_RULE,
    Content,
    Found,
    NotModified,
    RedirectAsked,
    content_answer,
    linked_download,
    stream_content,
    token_download,
)
from .metrics import ROUTE_KEY
from .origins import OriginPolicy
from .params import asset_id_from_path
from .plain_request import ScopeHeaders

_PATH = re.compile(r"/api/assets/([^/]+)/download")
#: the parameters a download reads (``redirect`` is left to Quart)
_KNOWN = frozenset({"signature", "expires", "epoch", "version", "inline"})
#: a value werkzeug would decode to itself (no ``%``, no ``+``)
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._~-]*")
#: where ``create_app`` leaves the ``LeanDownloads`` layer (its ``served`` count)
LEAN_KEY = "asset_service.lean_downloads"
#: what Quart's ``Response("")`` of a 304 says it is
_EMPTY_TYPE = "text/html; charset=utf-8"
#: a body up to this size is sent without a task watching for the client to leave: at worst a
#: client that left costs this much read for nothing (Hypercorn drops what is sent to a closed
#: connection), while the watcher costs a task per request
UNWATCHED_BODY = 4 * 1024 * 1024


def plain_query(raw: bytes) -> dict[str, str] | None:
    """The query as werkzeug's ``request.args.get`` would read it, if that is certain: known
    names, each once, with values that need no decoding. ``None``: leave it to Quart."""
    query: dict[str, str] = {}
    if not raw:
        return query
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    for pair in text.split("&"):
        name, equals, value = pair.partition("=")
        if not equals or name not in _KNOWN or name in query or not _PLAIN_VALUE.fullmatch(value):
            return None
        query[name] = value
    return query


class LeanDownloads:
    """ASGI middleware: downloads it can answer exactly, answered here; the rest to ``app``.
    ``served``: how many it answered (tests check that the lean path was taken)."""

    def __init__(self, app: Any, services: Services, cors: OriginPolicy | None) -> None:
        self.app = app
        self.services = services
        self.cors = cors
        self.served = 0

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if (
            scope.get("type") == "http"
            and scope.get("method") in ("GET", "HEAD")
            and not scope.get("root_path")
            and (match := _PATH.fullmatch(scope.get("path", ""))) is not None
        ):
            headers = ScopeHeaders(scope.get("headers") or [])
            answer = await self._decide(scope, headers, match[1])
            if answer is not None:
                self.served += 1
                scope[ROUTE_KEY] = DOWNLOAD_RULE  # the metrics' label, as Quart's rule gives it
                await self._answer(scope, headers, answer, receive, send)
                return
        await self.app(scope, receive, send)

    async def _decide(
        self, scope: dict[str, Any], headers: ScopeHeaders, raw_id: str
    ) -> tuple[Found, Content | NotModified] | None:
        """The answer, if it is one this path sends; ``None``: Quart's to answer."""
        query = plain_query(scope.get("query_string", b""))
        if query is None or "content-length" in headers or "transfer-encoding" in headers:
            return None
        services = self.services
        try:
            asset_id = asset_id_from_path(raw_id)
            signature = query.get("signature")
            if signature is not None:
                found = await linked_download(
                    services.engine, services.links, asset_id, signature, query
                )
            else:
                principal = authenticate_headers(headers, services.tokens)
                asked = await token_download(services.engine, asset_id, principal, query)
                if isinstance(asked, RedirectAsked):
                    return None
                found = asked
            answer = await content_answer(services.engine, found, headers, None)
        except Exception:
            return None
        if not isinstance(answer, Content | NotModified):
            return None  # a 416: a problem document, Quart's
        return found, answer

    async def _answer(
        self,
        scope: dict[str, Any],
        headers: ScopeHeaders,
        decided: tuple[Found, Content | NotModified],
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        found, answer = decided
        head = scope["method"] == "HEAD"
        # The headers in Quart's order: Content-Type from the Response, Content-Length where
        # ``set_data`` puts it for a bytes body, then the view's, then the after_request hook's.
        if isinstance(answer, NotModified):
            status, fields = 304, [("Content-Type", _EMPTY_TYPE), ("Content-Length", "0")]
            fields += answer.headers.items()
        else:
            status, fields = answer.status, [("Content-Type", answer.content_type)]
            length = str(answer.length)
            if head:
                fields.append(("Content-Length", length))
            fields += answer.headers.items()
            if not head:
                fields.append(("Content-Length", length))
        if self.cors is not None:
            fields += cors_headers(
                self.cors,
                headers.get("Origin"),
                scope["method"],
                preflight="Access-Control-Request-Method" in headers,
            ).items()
        start: ASGISendEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": [(name.lower().encode(), value.encode()) for name, value in fields],
        }
        body = None if head or isinstance(answer, NotModified) else answer
        if body is None or body.length <= UNWATCHED_BODY:
            await self._send(start, found, body, send)
        else:
            await self._send_watching(start, found, body, receive, send)

    async def _send(
        self,
        start: ASGISendEvent,
        found: Found,
        body: Content | None,
        send: ASGISendCallable,
        before_last: Callable[[], None] = lambda: None,
    ) -> None:
        """Send the answer whole; ``before_last`` is called just before its last message."""
        await send(start)
        sent, ended = 0, False
        if body is not None and body.length:
            metrics = self.services.metrics
            chunks = stream_content(self.services.engine, found, body.offset, body.length, metrics)
            # Read to the end: ``stream_content`` counts a chunk once it was handed on.
            async with aclosing(chunks):
                async for chunk in chunks:
                    sent += len(chunk)
                    ended = sent >= body.length
                    if ended:
                        before_last()
                    message: ASGISendEvent = {
                        "type": "http.response.body",
                        "body": chunk,
                        "more_body": not ended,
                    }
                    await send(message)
        if not ended:  # no body, an empty one, or a blob that ended early
            before_last()
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_watching(
        self,
        start: ASGISendEvent,
        found: Found,
        body: Content,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        """Send the answer; stop if the client leaves first. As in ``_bounded_body``: Hypercorn
        reports ``http.disconnect`` from inside the last ``send`` too, and that one must not
        cancel it."""
        complete = False

        def completing() -> None:
            nonlocal complete
            complete = True

        async def watch(cancel_scope: trio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not complete:
                cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, nursery.cancel_scope)
            await self._send(start, found, body, send, before_last=completing)
            nursery.cancel_scope.cancel()
