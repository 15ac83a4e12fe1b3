"""CORS for browser clients on other origins (``ASSET_CORS_ORIGINS``: a comma-separated list
of origins or origin patterns such as ``http://localhost:*`` — see ``origins`` — or ``*``).
Off when unset. Tokens travel in the ``Authorization`` header, never in
cookies, so no credentials mode is needed; every answer — errors included — carries the CORS
headers, so a browser can read a problem document, and it exposes what clients must read:
``Location``, ``ETag``, ranges, the tus headers and ``Asset-Id``."""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio

from .origins import OriginPolicy
from .routes.tus import TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS

EXPOSED = (
    "Location",
    "ETag",
    "Last-Modified",
    "Content-Length",
    "Content-Range",
    "Content-Disposition",
    "Accept-Ranges",
    "WWW-Authenticate",
    *(h for h in TUS_RESPONSE_HEADERS if h != "Location"),
)
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Range",
    "Range",
    "X-Customer-Id",
    "X-Upload-Id",
    "X-Requested-With",
    "X-HTTP-Method-Override",
    *TUS_REQUEST_HEADERS,
)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PREFLIGHT_MAX_AGE = 86400


def install_cors(app: QuartTrio, origins: tuple[str, ...]) -> OriginPolicy | None:
    """The CORS hook on every Quart answer; the policy (``None``: CORS off), which the lean
    download path applies to its own answers with the same ``cors_headers``."""
    if not origins:
        return None
    policy = OriginPolicy(origins)

    @app.after_request
    async def add_cors_headers(response: Response) -> Response:
        added = cors_headers(
            policy,
            request.headers.get("Origin"),
            request.method,
            preflight="Access-Control-Request-Method" in request.headers,
        )
        for name, value in added.items():
            if name == "Vary":
                response.vary.add(value)  # merged with any Vary the view set
            else:
                response.headers[name] = value
        return response

    return policy


def cors_headers(
    policy: OriginPolicy, origin: str | None, method: str, *, preflight: bool
) -> dict[str, str]:
    """The CORS headers of an answer to a request from ``origin`` (none for a request without
    one or from an origin not allowed), in the order they are added."""
    if origin is None or not policy.allows(origin):
        return {}
    headers: dict[str, str] = {}
    if policy.any_origin:
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED)
    if method == "OPTIONS" and preflight:
        headers["Access-Control-Allow-Methods"] = ", ".join(METHODS)
        headers["Access-Control-Allow-Headers"] = ", ".join(ALLOWED_HEADERS)
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return headers
