"""What a download answers, decided without Quart: who may have which version
(``linked_download``, ``token_download``) and what to send for it (``content_answer``: the
bytes, a range, a 304, a 416 or an nginx hand-over, with their headers). The Quart route
(``routes/content.py``) and the lean ASGI path (``lean_download.py``) both call these, each
handing in the request's headers and query as plain lookups — so the two cannot drift apart.

Every download says how a browser may show it (``engine.content_safety``): ``nosniff``, a
sandboxing Content-Security-Policy, and ``Content-Disposition: attachment`` unless the client
asked for ``?inline=1`` *and* the engine says the version may be shown inline (by its type, or
for an SVG by the inspector's verdict on its stored bytes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Protocol
from urllib.parse import quote

from asset_service.engine import Asset, AssetEngine, Principal
from asset_service.engine.content_safety import (
    CONTENT_SECURITY_POLICY,
    SVG_CONTENT_SECURITY_POLICY,
    content_disposition,
    is_svg,
)
from asset_service.engine.errors import NotFound
from asset_service.engine.model import Version, bucket_of

from .conditional import not_modified, range_applies
from .metrics import HttpMetrics
from .params import flag_value, positive_int_value
from .plain_request import HeaderLookup
from .problems import HTTPProblem, unauthorized
from .ranges import ByteRange, RangeNotSatisfiable, parse_range
from .signing import LinkSigner, download_subject, link_cache_control

#: the URL rule of downloads (the metrics' route label)
DOWNLOAD_RULE = "/api/assets/<asset_id>/download"


class QueryLookup(Protocol):
    def get(self, name: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Found:
    """The version a download may have, and how: ``inline`` is the client's wish (granted
    for inline-safe types only); ``cache_control`` a signed link's, else ``None``."""

    asset: Asset
    version: Version
    inline: bool
    cache_control: str | None = None


@dataclass(frozen=True, slots=True)
class RedirectAsked:
    """``?redirect=1`` with a token: answer a 302 to a signed link instead."""

    principal: Principal
    version_number: int | None


async def linked_download(
    engine: AssetEngine, signer: LinkSigner, asset_id: str, signature: str, query: QueryLookup
) -> Found:
    """A download through a signed link: the disposition asked (``inline``) is part of what
    the link signs. A link pinned to a version answers what caches may keep until it expires;
    one that follows the current version is revalidated. Raises ``HTTPProblem`` (403) or
    ``NotFound`` for a refused link (the caller decides how a refusal reads)."""
    inline = flag_value("inline", query.get("inline"))
    grant = signer.verify(
        "download",
        asset_id,
        version=query.get("version"),
        subject=download_subject(inline),
        expires=query.get("expires"),
        epoch=query.get("epoch"),
        signature=signature,
    )
    asset, version = await engine.linked_content(asset_id, grant.version)
    if grant.epoch != asset.link_epoch:
        raise HTTPProblem(403, "Forbidden", "the link was revoked: the asset was deleted")
    return Found(asset, version, inline, link_cache_control(signer, grant))


async def token_download(
    engine: AssetEngine, asset_id: str, principal: Principal | None, query: QueryLookup
) -> Found | RedirectAsked:
    """A download with a bearer token (``principal``), or anonymous of a public asset."""
    version_number = positive_int_value("version", query.get("version"))
    if flag_value("redirect", query.get("redirect")):
        if principal is None:
            raise unauthorized("this needs 'Authorization: Bearer <token>'")
        return RedirectAsked(principal, version_number)
    if principal is None:
        # Anonymous downloads are for public assets only; anything else needs a token.
        try:
            asset, version = await engine.content(None, asset_id, version_number, public=True)
        except NotFound:
            raise unauthorized("this needs 'Authorization: Bearer <token>'") from None
    else:
        # A public asset's content is public for callers of every customer too.
        asset, version = await engine.content(principal, asset_id, version_number, public=True)
    return Found(asset, version, flag_value("inline", query.get("inline")))


# --- what is sent -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotModified:
    """304: the client's copy is current."""

    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """416 for a ``Range`` outside the content."""

    size: int
    detail: str


@dataclass(frozen=True, slots=True)
class HandOver:
    """The download handed to a front nginx (``X-Accel-Redirect`` in ``headers``)."""

    content_type: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Content:
    """The bytes ``offset`` to ``offset + length`` (200 whole, 206 a range); ``headers`` are
    all but Content-Type and Content-Length."""

    status: int
    content_type: str
    headers: dict[str, str]
    offset: int
    length: int


Answer = NotModified | Unsatisfiable | HandOver | Content


async def content_answer(
    engine: AssetEngine, found: Found, request_headers: HeaderLookup, accel_prefix: str | None
) -> Answer:
    """What to send for ``found``. A download with a token or of a public asset is
    revalidated every time (its visibility, its current version may change)."""
    asset, version = found.asset, found.version
    size = version.size
    etag = f'"{version.checksum}"'
    last_modified = version.created_at.replace(microsecond=0)
    cache_control = found.cache_control
    if cache_control is None:
        cache_control = "private, no-cache" if asset.visibility != "public" else "no-cache"
    if not_modified(etag, last_modified, request_headers):
        return NotModified(
            {
                "ETag": etag,
                "Last-Modified": format_datetime(last_modified, usegmt=True),
                "Cache-Control": cache_control,
            }
        )
    byte_range: ByteRange | None = None
    if not accel_prefix and range_applies(etag, last_modified, request_headers):
        try:
            byte_range = parse_range(request_headers.get("Range"), size)
        except RangeNotSatisfiable as error:
            return Unsatisfiable(size, str(error))
    shown_inline, policy = await presentation(engine, asset, version, inline=found.inline)
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
        headers["X-Accel-Redirect"] = accel_redirect(engine, asset, version, accel_prefix)
        return HandOver(version.mime_type, headers)
    if byte_range is None:
        return Content(200, version.mime_type, headers, 0, size)
    headers["Content-Range"] = byte_range.content_range(size)
    return Content(206, version.mime_type, headers, byte_range.start, byte_range.length)


def accel_redirect(engine: AssetEngine, asset: Asset, version: Version, prefix: str) -> str:
    """Where a front nginx finds the blob: under the internal location ``prefix``, each key
    segment percent-encoded (nginx decodes). Authorisation and If-None-Match /
    If-Modified-Since are settled here; nginx sends the file with sendfile and applies Range
    and If-Range itself (nginx's range semantics are the ones this service follows), comparing
    If-Range with our ETag, which its location sets from this response
    (``add_header ETag $upstream_http_etag``)."""
    bucket = bucket_of(asset, engine.asset_types())
    parts = (bucket, *version.storage_key.split("/"))
    return prefix + "/".join(quote(p, safe="") for p in parts)


async def presentation(
    engine: AssetEngine, asset: Asset, version: Version, *, inline: bool
) -> tuple[bool, str]:
    """Whether the content is shown inline, and its Content-Security-Policy."""
    if not inline or not await engine.shows_inline(asset, version):
        return False, CONTENT_SECURITY_POLICY
    if is_svg(version.mime_type):
        return True, SVG_CONTENT_SECURITY_POLICY
    return True, CONTENT_SECURITY_POLICY


async def stream_content(
    engine: AssetEngine, found: Found, offset: int, length: int, metrics: HttpMetrics
) -> AsyncIterator[bytes]:
    """The bytes to send. (Given its values as arguments: Quart runs it after the view has
    returned.)"""
    async for chunk in engine.read(found.asset, found.version, offset, length):
        yield chunk
        metrics.download_bytes.inc(len(chunk))  # counted once handed on, not when read
