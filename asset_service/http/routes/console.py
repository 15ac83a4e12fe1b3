"""The web console: ``/`` serves its page, ``/console/<file>`` its static files, both shipped in
the package (``asset_service/console/static``), no build step and nothing from elsewhere. The
console is a client of the public API like any other: it holds no privilege of its own.

Every console response carries a strict Content-Security-Policy (scripts and styles from this
origin only, nothing inline) and ``nosniff``. ``serve --dev`` on a loopback address adds
``/console/dev-token`` (``dev_token_blueprint``), which hands the development token to a page
loaded from the same machine; nothing else ever serves a token.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import PurePosixPath

from quart import Blueprint, Response, request

from asset_service.engine.errors import NotFound

from ..context import services
from ..package_files import PackageFiles
from ..problems import HTTPProblem
from ..schema import undocumented

blueprint = Blueprint("console", __name__)

STATIC = PackageFiles("asset_service.console", "static")
#: what the console's files may be; anything else under /console/ is a 404
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
LOOPBACK_NAMES = {"localhost"}


def content_security_policy(presigned_origin: str | None) -> str:
    """Scripts, styles and API calls to this origin only. Media and frames (the PDF viewer) may
    also come from the S3 endpoint when the store hands out its own pre-signed links."""
    media = " ".join(["'self'", *([presigned_origin] if presigned_origin else [])])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src data: blob: {media}; media-src {media}; frame-src {media}; "
        "connect-src 'self'; font-src 'self'; manifest-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(
        services().engine.store.presigned_origin
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/")
@undocumented
async def console_page() -> Response:
    page = await STATIC.read("index.html")
    if page is None:
        raise NotFound("the console is not installed")
    return _page_headers(Response(page, status=200, content_type=CONTENT_TYPES[".html"]))


@blueprint.get("/console/<path:name>")
@undocumented
async def console_file(name: str) -> Response:
    path = PurePosixPath(name)
    hidden = any(part in ("", ".", "..") or part.startswith(".") for part in path.parts)
    if hidden or name.endswith("/"):
        raise NotFound("no such console file")
    content_type = CONTENT_TYPES.get(path.suffix)
    content = await STATIC.read(*path.parts) if content_type else None
    if content_type is None or content is None:
        raise NotFound("no such console file")
    return _page_headers(Response(content, status=200, content_type=content_type))


# --- development only --------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dev_token_blueprint(token: str) -> Blueprint:
    """``GET /console/dev-token``: the development token, for ``serve --dev`` bound to a
    loopback address only (the caller checks the bind), answered to loopback peers only."""
    dev = Blueprint("console_dev", __name__)

    @dev.get("/console/dev-token")
    @undocumented
    async def dev_token() -> Response:
        peer = (request.scope.get("client") or ("", 0))[0]
        if not is_loopback(str(peer)):
            raise HTTPProblem(403, "Forbidden", "the development token is for this machine only")
        response = Response(
            json.dumps({"token": token, "note": "development token (serve --dev)"}),
            status=200,
            content_type="application/json",
        )
        _page_headers(response)
        response.headers["Cache-Control"] = "no-store"
        return response

    return dev
