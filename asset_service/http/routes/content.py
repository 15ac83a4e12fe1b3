"""Downloads: ranged and conditional, by token, as a public asset, or through a signed URL.

Every download says how a browser may show it (``engine.content_safety``): ``nosniff``, a
sandboxing Content-Security-Policy, and ``Content-Disposition: attachment`` unless the client
asked for ``?inline=1`` *and* the engine says the version may be shown inline (by its type, or
for an SVG by the inspector's verdict on its stored bytes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from quart import Blueprint, Response, request

from asset_service.config import ConfigError
from asset_service.engine import Asset, AssetEngine
from asset_service.engine.content_safety import (
    CONTENT_SECURITY_POLICY,
    SVG_CONTENT_SECURITY_POLICY,
    content_disposition,
    is_svg,
)
from asset_service.engine.errors import NotFound
from asset_service.engine.model import Version, bucket_of

from ..conditional import not_modified, range_applies
from ..context import caller, optional_caller, services
from ..links import LinkBuilder
from ..media_requests import media_element_request, plain_text_refusal
from ..metrics import HttpMetrics
from ..params import asset_id_from_path, flag, positive_int
from ..problems import HTTPProblem, problem_response, unauthorized
from ..ranges import ByteRange, RangeNotSatisfiable, parse_range
from ..responses import json_response
from ..schema import Auth, Reply, operation, records, replies
from ..schema import parameters as param
from ..signing import download_subject, link_cache_control
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
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    signature = request.args.get("signature")
    if signature is not None:
        return await _linked_download(engine, asset_id, signature)
    principal = optional_caller()
    version_number = positive_int("version")
    if flag("redirect"):
        if principal is None:
            raise unauthorized("this needs 'Authorization: Bearer <token>'")
        url, _ = await _builder().link(principal, asset_id, version_number, inline=flag("inline"))
        response = Response("", status=302)
        response.headers["Location"] = url
        return response
    if principal is None:
        # Anonymous downloads are for public assets only; anything else needs a token.
        try:
            asset, version = await engine.content(None, asset_id, version_number, public=True)
        except NotFound:
            raise unauthorized("this needs 'Authorization: Bearer <token>'") from None
    else:
        # A public asset's content is public for callers of every customer too.
        asset, version = await engine.content(principal, asset_id, version_number, public=True)
    return await serve_content(engine, asset, version, inline=flag("inline"))


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


async def _linked_download(engine: AssetEngine, asset_id: str, signature: str) -> Response:
    """A download through a signed link: the disposition asked (``inline``) is part of what
    the link signs. A link pinned to a version answers what caches may keep until it expires;
    one that follows the current version is revalidated; a refusal is never kept."""
    signer = services().links
    try:
        inline = flag("inline")
        grant = signer.verify(
            "download",
            asset_id,
            version=request.args.get("version"),
            subject=download_subject(inline),
            expires=request.args.get("expires"),
            epoch=request.args.get("epoch"),
            signature=signature,
        )
        asset, version = await engine.linked_content(asset_id, grant.version)
        if grant.epoch != asset.link_epoch:
            raise HTTPProblem(403, "Forbidden", "the link was revoked: the asset was deleted")
    except (HTTPProblem, NotFound) as refused:
        # (either answer says ``no-store``: a refusal is never kept)
        if media_element_request():
            return plain_text_refusal(refused)
        raise
    return await serve_content(
        engine, asset, version, inline=inline, cache_control=link_cache_control(signer, grant)
    )


async def serve_content(
    engine: AssetEngine,
    asset: Asset,
    version: Version,
    *,
    inline: bool,
    cache_control: str | None = None,
) -> Response:
    """The version's bytes (or its headers, a 304, a 416, an nginx hand-over). ``inline``
    is the client's wish (``?inline=1``), granted for inline-safe types only.
    ``cache_control``: a signed link's; a download with a token or of a public asset is
    revalidated every time (its visibility, its current version may change)."""
    size = version.size
    etag = f'"{version.checksum}"'
    last_modified = version.created_at.replace(microsecond=0)
    if cache_control is None:
        cache_control = "private, no-cache" if asset.visibility != "public" else "no-cache"
    if not_modified(etag, last_modified):
        response = Response("", status=304)
        response.headers["ETag"] = etag
        response.headers["Last-Modified"] = format_datetime(last_modified, usegmt=True)
        response.headers["Cache-Control"] = cache_control
        return response
    accel_prefix = services().settings.accel_redirect_prefix
    byte_range: ByteRange | None = None
    if not accel_prefix and range_applies(etag, last_modified):
        try:
            byte_range = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable as error:
            return problem_response(
                416,
                "Range not satisfiable",
                str(error),
                {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            )
    shown_inline, policy = await presentation(engine, asset, version, inline=inline)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        # The file name the version was uploaded with: ``name`` is a display name and may
        # have no extension.
        "Content-Disposition": content_disposition(version.original_filename, inline=shown_inline),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": policy,
        "Cache-Control": cache_control,
    }
    if accel_prefix:
        return _accel_redirect(engine, asset, version, accel_prefix, headers)
    status = 200
    offset, length = 0, size
    if byte_range is not None:
        status = 206
        offset, length = byte_range.start, byte_range.length
        headers["Content-Range"] = byte_range.content_range(size)

    body: Any = (
        b""
        if request.method == "HEAD"
        else _stream(engine, asset, version, offset, length, services().metrics)
    )
    response = Response(body, status=status, content_type=version.mime_type)
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


def _accel_redirect(
    engine: AssetEngine, asset: Asset, version: Version, prefix: str, headers: dict[str, str]
) -> Response:
    """The download handed to a front nginx: no body, ``X-Accel-Redirect`` naming the blob
    under the internal location ``prefix`` (each key segment percent-encoded; nginx decodes).
    Authorisation and If-None-Match / If-Modified-Since are settled here; nginx sends the file
    with sendfile and applies Range and If-Range itself (nginx's range semantics are the ones
    this service follows), comparing If-Range with our ETag, which its location sets from this
    response (``add_header ETag $upstream_http_etag``)."""
    bucket = bucket_of(asset, engine.asset_types())
    parts = (bucket, *version.storage_key.split("/"))
    response = Response(b"", status=200, content_type=version.mime_type)
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["X-Accel-Redirect"] = prefix + "/".join(quote(p, safe="") for p in parts)
    return response


async def _stream(
    engine: AssetEngine,
    asset: Asset,
    version: Version,
    offset: int,
    length: int,
    metrics: HttpMetrics,
) -> AsyncIterator[bytes]:
    # Given its values as arguments: this runs after the view has returned.
    async for chunk in engine.read(asset, version, offset, length):
        yield chunk
        metrics.download_bytes.inc(len(chunk))  # counted once handed on, not when read


# --- how the content may be shown -----------------------------------------------------------


async def presentation(
    engine: AssetEngine, asset: Asset, version: Version, *, inline: bool
) -> tuple[bool, str]:
    """Whether the content is shown inline, and its Content-Security-Policy."""
    if not inline or not await engine.shows_inline(asset, version):
        return False, CONTENT_SECURITY_POLICY
    if is_svg(version.mime_type):
        return True, SVG_CONTENT_SECURITY_POLICY
    return True, CONTENT_SECURITY_POLICY
