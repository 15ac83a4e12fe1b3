"""Downloads: ranged and conditional, by token, as a public asset, or through a signed URL.

Every download says how a browser may show it (``engine.content_safety``): ``nosniff``, a
sandboxing Content-Security-Policy, and ``Content-Disposition: attachment`` unless the client
asked for ``?inline=1`` *and* the type is one a browser renders without running code — an SVG
only once its stored bytes passed the SVG safety check again, here."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import trio
from quart import Blueprint, Response, request

from asset_service.config import ConfigError
from asset_service.engine import Asset, AssetEngine, Principal
from asset_service.engine.adapters.filesystem import FilesystemBlobStore
from asset_service.engine.content_safety import (
    CONTENT_SECURITY_POLICY,
    MAX_INLINE_SVG_BYTES,
    SVG_CONTENT_SECURITY_POLICY,
    content_disposition,
    inline_safe,
    is_svg,
)
from asset_service.engine.errors import InvalidInput, NotFound
from asset_service.engine.model import Version, bucket_of
from asset_service.plugins.builtin import check_svg

from .. import signing
from ..context import (
    asset_id_from_path,
    caller,
    flag,
    optional_caller,
    parse_decimal,
    positive_int,
    services,
)
from ..media_requests import media_element_request, plain_text_refusal
from ..metrics import HttpMetrics
from ..problems import HTTPProblem, problem_response, unauthorized
from ..ranges import ByteRange, RangeNotSatisfiable, parse_range
from ..responses import json_response

blueprint = Blueprint("content", __name__)
logger = logging.getLogger(__name__)


DEFAULT_LINK_EXPIRES = 3600


@blueprint.route("/api/assets/<asset_id>/download", methods=["GET", "HEAD"])
async def download(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    signature = request.args.get("signature")
    if signature is not None:
        try:
            number = signing.verify(
                _link_key(),
                asset_id,
                request.args.get("version"),
                request.args.get("expires"),
                signature,
            )
            asset, version = await engine.linked_content(asset_id, number)
        except (HTTPProblem, NotFound) as refused:
            if media_element_request():
                return plain_text_refusal(refused)
            raise
        return await serve_content(engine, asset, version, inline=flag("inline"))
    principal = optional_caller()
    version_number = positive_int("version")
    if flag("redirect"):
        if principal is None:
            raise unauthorized("this needs 'Authorization: Bearer <token>'")
        url, _ = await _link(principal, asset_id, version_number, DEFAULT_LINK_EXPIRES)
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
async def download_url(asset_id: str) -> Response:
    """A URL that downloads without a token until it expires."""
    asset_id = asset_id_from_path(asset_id)
    raw = request.args.get("expires", str(DEFAULT_LINK_EXPIRES))
    seconds = parse_decimal(raw)
    if seconds is None or not 1 <= seconds <= signing.MAX_EXPIRES:
        raise InvalidInput(f"expires must be 1 to {signing.MAX_EXPIRES} seconds")
    url, expires_at = await _link(caller(), asset_id, positive_int("version"), seconds)
    return json_response(
        {"url": url, "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat()}
    )


async def _link(
    principal: Principal, asset_id: str, version_number: int | None, seconds: int
) -> tuple[str, int]:
    engine = services().engine
    asset, version = await engine.content(principal, asset_id, version_number)
    expires_at = int(time.time()) + seconds
    native = await engine.presigned_url(asset, version, seconds, version.original_filename)
    if native is not None:
        return native, expires_at
    query = urlencode(
        {
            "version": version.version,
            "expires": expires_at,
            "signature": signing.sign(_link_key(), asset.asset_id, version.version, expires_at),
        }
    )
    base = request.host_url.rstrip("/")
    return f"{base}/api/assets/{asset.asset_id}/download?{query}", expires_at


def _link_key() -> bytes:
    return signing.signing_key(services().settings.url_signing_secret)


async def serve_content(
    engine: AssetEngine, asset: Asset, version: Version, *, inline: bool
) -> Response:
    """The version's bytes (or its headers, a 304, a 416, an nginx hand-over). ``inline``
    is the client's wish (``?inline=1``), granted for inline-safe types only."""
    size = version.size
    etag = f'"{version.checksum}"'
    last_modified = version.created_at.replace(microsecond=0)
    cache_control = "private, no-cache" if asset.visibility != "public" else "no-cache"
    if _not_modified(etag, last_modified):
        response = Response("", status=304)
        response.headers["ETag"] = etag
        response.headers["Last-Modified"] = format_datetime(last_modified, usegmt=True)
        response.headers["Cache-Control"] = cache_control
        return response
    accel_prefix = services().settings.accel_redirect_prefix
    byte_range: ByteRange | None = None
    if not accel_prefix and _range_applies(etag, last_modified):
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
    """``ASSET_ACCEL_REDIRECT_PREFIX`` can work: a path prefix of an nginx location, over the
    filesystem store (whose root that location maps)."""
    if not (prefix.startswith("/") and prefix.endswith("/")) or any(
        ch in prefix for ch in " ?#%\\\r\n\t"
    ):
        raise ConfigError(
            "ASSET_ACCEL_REDIRECT_PREFIX must be a URI path starting and ending with '/', "
            f"e.g. /_asset_blobs/, not {prefix!r}"
        )
    if not isinstance(engine.store, FilesystemBlobStore):
        raise ConfigError(
            "ASSET_ACCEL_REDIRECT_PREFIX needs the filesystem blob store (nginx serves its files)"
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
        metrics.download_bytes += len(chunk)  # counted once handed on, not when read


# --- how the content may be shown -----------------------------------------------------------

#: SVGs read and checked at once (each up to ``MAX_INLINE_SVG_BYTES`` in memory)
SVG_CHECKS_AT_ONCE = 2
#: verdicts remembered, by (asset, version, checksum): a version's bytes never change
SVG_VERDICTS_KEPT = 1024
_svg_limiter: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("svg_limiter")
_svg_verdicts: OrderedDict[tuple[str, int, str], bool] = OrderedDict()


async def presentation(
    engine: AssetEngine, asset: Asset, version: Version, *, inline: bool
) -> tuple[bool, str]:
    """Whether the content is shown inline, and its Content-Security-Policy."""
    if not inline:
        return False, CONTENT_SECURITY_POLICY
    if is_svg(version.mime_type):
        if await svg_is_safe(engine, asset, version):
            return True, SVG_CONTENT_SECURITY_POLICY
        return False, CONTENT_SECURITY_POLICY
    return inline_safe(version.mime_type), CONTENT_SECURITY_POLICY


async def svg_is_safe(engine: AssetEngine, asset: Asset, version: Version) -> bool:
    """The stored SVG passes the built-in SVG check again (it may have come by a path that
    did not check it: a third-party plugin claiming SVG, an import, the store itself). Only
    up to ``MAX_INLINE_SVG_BYTES``; the bytes checked are the ones served. The reading and
    the check share one limiter, so that many requests at once can't hold many SVGs in
    memory; the verdict is remembered, so that repeated requests don't parse again."""
    if version.size > MAX_INLINE_SVG_BYTES:
        return False
    key = (asset.asset_id, version.version, version.checksum)
    verdict = _svg_verdicts.get(key)
    if verdict is not None:
        _svg_verdicts.move_to_end(key)
        return verdict
    try:
        limiter = _svg_limiter.get()
    except LookupError:
        limiter = trio.CapacityLimiter(SVG_CHECKS_AT_ONCE)
        _svg_limiter.set(limiter)
    async with limiter:
        verdict = await _check_svg(engine, asset, version)
    _svg_verdicts[key] = verdict
    while len(_svg_verdicts) > SVG_VERDICTS_KEPT:
        _svg_verdicts.popitem(last=False)
    return verdict


async def _check_svg(engine: AssetEngine, asset: Asset, version: Version) -> bool:
    try:
        chunks = [chunk async for chunk in engine.read(asset, version, 0, version.size)]
        await trio.to_thread.run_sync(check_svg, b"".join(chunks))
    except Exception as error:
        logger.warning(
            "asset %s v%d: stored SVG not shown inline: %s",
            asset.asset_id,
            version.version,
            getattr(error, "reason", None) or type(error).__name__,
        )
        return False
    return True


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [part.strip() for part in header.split(",")]
    weak_free = [c[2:] if c.startswith("W/") else c for c in candidates]
    return "*" in candidates or etag in weak_free


def _not_modified(etag: str, last_modified: Any) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            return last_modified <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, OverflowError):
            return False
    return False


def _range_applies(etag: str, last_modified: Any) -> bool:
    """``If-Range``: serve the range only if the representation is still the one named."""
    if_range = request.headers.get("If-Range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', "W/")):
        return if_range == etag  # strong comparison: a weak tag never matches
    try:
        return parsedate_to_datetime(if_range) == last_modified
    except (TypeError, ValueError, OverflowError):
        return False
