"""Answers a media element can read. A browser fetches ``<video>``, ``<audio>`` and ``<img>``
sources in no-cors mode and blocks a cross-origin JSON answer to them (ORB): the element then
learns nothing, and a player waits forever on an expired link. Such requests — a ``Range`` or
a media ``Sec-Fetch-Dest``, from a client that did not ask for JSON — get their refusal in
``text/plain``, which reaches the element as an error it can act on (fetch a new link)."""

from __future__ import annotations

from quart import Response, request

from asset_service.engine.errors import AssetServiceError

from .problems import HTTPProblem, status_of

MEDIA_DESTINATIONS = frozenset({"audio", "video", "track", "image"})


def media_element_request() -> bool:
    if "json" in request.headers.get("Accept", "").lower():
        return False
    destination = request.headers.get("Sec-Fetch-Dest", "").strip().lower()
    return "Range" in request.headers or destination in MEDIA_DESTINATIONS


def plain_text_refusal(refused: HTTPProblem | AssetServiceError) -> Response:
    if isinstance(refused, HTTPProblem):
        status, title, detail = refused.status, refused.title, refused.detail
    else:
        status, title, detail = status_of(refused), refused.title, refused.reason
    response = Response(
        f"{status} {title}: {detail}\n", status=status, content_type="text/plain; charset=utf-8"
    )
    response.headers["Cache-Control"] = "no-store"
    if isinstance(refused, HTTPProblem):
        for name, value in refused.headers.items():
            response.headers[name] = value
    return response
