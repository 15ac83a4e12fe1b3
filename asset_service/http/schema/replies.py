"""Answers more than one route gives: an asset with its ``ETag`` (and ``Location`` when new),
the download's bytes and headers, tus's state headers."""

from __future__ import annotations

from typing import Annotated, Literal

from asset_service.engine.content_safety import CONTENT_SECURITY_POLICY

from .jsonschema import Meta
from .operation import Header, Reply
from .records import Asset

ETAG = {
    "ETag": Header(
        Annotated[str, Meta(examples=['"r3"'])],
        "the asset's revision, for `If-Match`",
        required=True,
    )
}
LOCATION = {"Location": Header(str, "the asset's URL", required=True)}


def asset(description: str, *, created: bool = False) -> Reply:
    """The asset as JSON, with its ``ETag``; ``created``: and its ``Location``."""
    return Reply(description, Asset, {**ETAG, **LOCATION} if created else ETAG)


# --- downloads -------------------------------------------------------------------------------

_CONTENT_HEADERS = {
    "ETag": Header(str, "the version's checksum"),
    "Last-Modified": Header(str),
    "Content-Disposition": Header(
        str,
        "RFC 6266, with `filename*` for the exact name: `attachment`, or `inline` with "
        "`inline=true` for an inline-safe type (see `inline`)",
    ),
    "Content-Security-Policy": Header(
        str,
        f"`{CONTENT_SECURITY_POLICY}` on every download; an inline SVG's adds "
        "`style-src 'unsafe-inline'; img-src data:`",
    ),
    "X-Content-Type-Options": Header(Literal["nosniff"]),
    "Accept-Ranges": Header(Literal["bytes"]),
    "Cache-Control": Header(
        str,
        "with a token: `private, no-cache`; a public asset without one: `no-cache`; a signed "
        "link pinned to a version: `public, max-age=<seconds to its expiry>, immutable`; one "
        "to the current version: `public, no-cache`",
    ),
}
_ANY_BYTES = {"*/*": bytes}

DOWNLOAD = {
    200: Reply("the content", headers=_CONTENT_HEADERS, content=_ANY_BYTES),
    206: Reply(
        "the requested range",
        headers={**_CONTENT_HEADERS, "Content-Range": Header(str, required=True)},
        content=_ANY_BYTES,
    ),
    302: Reply(
        "with `redirect=true`: to a signed URL",
        headers={"Location": Header(str, required=True)},
    ),
    304: Reply("not modified (`If-None-Match` / `If-Modified-Since`)"),
}

# --- tus -------------------------------------------------------------------------------------

UPLOAD_URL = {"Location": Header(str, "the upload's URL", required=True)}
UPLOAD_OFFSET = {"Upload-Offset": Header(Annotated[int, Meta(minimum=0)], "bytes received so far")}
UPLOAD_EXPIRES = {"Upload-Expires": Header(str, "when an unfinished upload expires (an HTTP date)")}
ASSET_ID = {"Asset-Id": Header(str, "the new asset's id, once the upload is committed")}
TUS_RESUMABLE = {"Tus-Resumable": Header(Literal["1.0.0"], "`1.0.0`")}
#: where a resumable upload stands, on every answer that changes it
TUS_STATE = {**UPLOAD_OFFSET, **UPLOAD_EXPIRES, **ASSET_ID, **TUS_RESUMABLE}
