"""Downloads: ranged and conditional, by token, as a public asset, or through a signed URL.
What each answers is decided in ``downloads`` (shared with the lean ASGI path, which answers
the common downloads without Quart); here those decisions become Quart responses."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from asset_service.config import ConfigError
from asset_service.engine import AssetEngine
from asset_service.engine.errors import NotFound

from ..context import caller, optional_caller, services
from ..downloads import (
    Content,
    Found,
    HandOver,
    NotModified,
    RedirectAsked,
    Unsatisfiable,
    content_answer,
    linked_download,
    stream_content,
    token_download,
)
from ..links import LinkBuilder
from ..media_requests import media_element_request, plain_text_refusal
from ..params import asset_id_from_path, flag, positive_int
from ..problems import HTTPProblem, problem_response
from ..responses import json_response
from ..schema import Auth, Reply, operation, records, replies
from ..schema import parameters as param
from .previews import preview_link

blueprint = Blueprint("content", __name__)


@blueprint.route("/api/assets/<asset_id>/download", methods=["GET", "HEAD"])
@operation(
    "Content",
    "getDownload",
    "Download the content",
    head=("headDownload", "The headers of the download"),
    responses=replies.DOWNLOAD,
    problems=[400, 401, 403, 404, 416, 503],
    plain_text_problems=[403, 404],
    description="With a bearer token, any asset the caller may see; without one, public assets "
    "only (others → 401); with `signature`, the signed version until `expires` (a forged, "
    "altered or expired link → 403).",
    parameters=param.DOWNLOAD,
    auth=Auth.BEARER_OR_NONE,
)
async def download(asset_id: str) -> Response:
    # The decisions are ``downloads``'s, shared with the lean ASGI path (``lean_download``),
    # which answers the common downloads before Quart sees them.
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    signature = request.args.get("signature")
    if signature is not None:
        try:
            found = await linked_download(
                engine, services().links, asset_id, signature, request.args
            )
        except (HTTPProblem, NotFound) as refused:
            # (either answer says ``no-store``: a refusal is never kept)
            if media_element_request():
                return plain_text_refusal(refused)
            raise
    else:
        asked = await token_download(engine, asset_id, optional_caller(), request.args)
        if isinstance(asked, RedirectAsked):
            url, _ = await _builder().link(
                asked.principal, asset_id, asked.version_number, inline=flag("inline")
            )
            response = Response("", status=302)
            response.headers["Location"] = url
            return response
        found = asked
    return await serve_content(engine, found)


@blueprint.get("/api/assets/<asset_id>/url")
@operation(
    "Content",
    "downloadUrl",
    "A download URL that needs no token",
    responses={200: Reply("the URL and when it expires", records.DownloadLink)},
    problems=[400, 401, 404, 503],
    description="The same request within one `ASSET_LINK_WINDOW` gets the same URL (its "
    "expiry rounded up to the window), so browsers and CDNs reuse what it answers. With "
    "`preview=KIND` (and `size` for a picture), a signed link to that preview instead, at "
    "once even while it is pending.",
    parameters=[
        param.LINK_VERSION,
        param.LINK_EXPIRES,
        param.LINK_INLINE,
        param.PREVIEW_KIND,
        param.PREVIEW_SIZE,
    ],
)
async def download_url(asset_id: str) -> Response:
    """A URL that downloads without a token until it expires."""
    asset_id = asset_id_from_path(asset_id)
    if "preview" in request.args:  # previews: a link to a preview instead (routes/previews.py)
        return await preview_link(asset_id)
    builder = _builder()
    seconds = builder.signer.expires_seconds(request.args.get("expires"))
    url, expires_at = await builder.link(
        caller(), asset_id, positive_int("version"), seconds, inline=flag("inline")
    )
    return json_response({"url": url, "expires_at": expires_at})


def _builder() -> LinkBuilder:
    """``links.LinkBuilder``, shared with GraphQL. Its base is ``ASSET_PUBLIC_URL``, or none
    (a relative link): never the request's ``Host``."""
    return LinkBuilder(services().engine, services().links, services().settings.public_url)


async def serve_content(engine: AssetEngine, found: Found) -> Response:
    """The version's bytes (or its headers, a 304, a 416, an nginx hand-over), as
    ``downloads.content_answer`` decides them."""
    answer = await content_answer(
        engine, found, request.headers, services().settings.accel_redirect_prefix
    )
    match answer:
        case NotModified(headers):
            response = Response("", status=304)
            for name, value in headers.items():
                response.headers[name] = value
            return response
        case Unsatisfiable(size, detail):
            return problem_response(
                416,
                "Range not satisfiable",
                detail,
                {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            )
        case HandOver(content_type, headers):
            response = Response(b"", status=200, content_type=content_type)
            for name, value in headers.items():
                response.headers[name] = value
            return response
        case Content(status, content_type, headers, offset, length):
            body: Any = (
                b""
                if request.method == "HEAD"
                else stream_content(engine, found, offset, length, services().metrics)
            )
            response = Response(body, status=status, content_type=content_type)
            for name, value in headers.items():
                response.headers[name] = value
            response.headers["Content-Length"] = str(length)
            response.timeout = None  # a long download must not be cut by RESPONSE_TIMEOUT
            return response


def check_accel_redirect(prefix: str, engine: AssetEngine) -> None:
    """``ASSET_ACCEL_REDIRECT_PREFIX`` can work: a path prefix of an nginx location, over a
    blob store whose blobs are local files (``BlobStore.local_root``, which that location
    maps)."""
    if not (prefix.startswith("/") and prefix.endswith("/")) or any(
        ch in prefix for ch in " ?#%\\\r\n\t"
    ):
        raise ConfigError(
            "ASSET_ACCEL_REDIRECT_PREFIX must be a URI path starting and ending with '/', "
            f"e.g. /_asset_blobs/, not {prefix!r}"
        )
    if engine.store.local_root is None:
        raise ConfigError(
            "ASSET_ACCEL_REDIRECT_PREFIX needs a blob store of local files, such as the "
            "filesystem blob store (nginx serves its files)"
        )
