"""Parameters more than one route takes: path parameters by name (the document reads a route's
from its URL rule and describes each from here), the list and search query, the download's query
and headers, tus's headers. Limits come from the modules that enforce them."""

from __future__ import annotations

from typing import Annotated, Literal

from asset_service.engine.content_safety import MAX_INLINE_SVG_BYTES
from asset_service.engine.preview_types import (
    DEFAULT_PICTURE_SIZE,
    DEFAULT_WAVEFORM_BUCKETS,
    MIN_WAVEFORM_BUCKETS,
    PICTURE_SIZES,
    STORED_WAVEFORM_BUCKETS,
)
from asset_service.engine.search import SORT_FIELDS

from .. import signing
from ..query import DEFAULT_LIMIT, MAX_LIMIT
from .bodies import FolderOrEmpty
from .jsonschema import AssetTypes, Meta
from .operation import Parameter, header, query
from .records import Uuid, VersionNumber

# --- path ------------------------------------------------------------------------------------

#: the description of each path parameter, by its name in the URL rules
PATH: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter("asset_id", "path", Uuid, required=True, component="AssetId"),
        Parameter(
            "upload_id",
            "path",
            str,
            "a resumable upload's id (the last segment of its URL), or the `X-Upload-Id` a "
            "multipart upload was sent with",
            required=True,
            component="UploadId",
        ),
        Parameter(
            "asset_type",
            "path",
            Annotated[str, AssetTypes()],
            "an asset type (an unknown one is a 404)",
            required=True,
            component="AssetType",
        ),
        Parameter("number", "path", VersionNumber, required=True),
        Parameter(
            "kind", "path", str, "a preview's kind: thumbnail, poster, waveform…", required=True
        ),
    )
}

# --- headers ---------------------------------------------------------------------------------

CUSTOMER_ID = header(
    "X-Customer-Id",
    "The customer a `service` token acts for (required with one: missing → 400); ignored for "
    "every other role.",
    component="CustomerId",
)
TUS_RESUMABLE = header(
    "Tus-Resumable",
    "the tus version the client speaks (else 412)",
    Literal["1.0.0"],
    required=True,
    component="TusResumable",
)
UPLOAD_ID = header(
    "X-Upload-Id",
    "names the upload so its progress can be followed; at most one upload with an id at a time",
    Annotated[str, Meta(pattern="^[A-Za-z0-9_-]{8,64}$")],
)
UPLOAD_CHECKSUM = header("Upload-Checksum", "`sha1|sha256 <base64 digest>` of the body")
UPLOAD_OFFSET = header("Upload-Offset", "where these bytes go", Annotated[int, Meta(minimum=0)])
UPLOAD_METADATA = header("Upload-Metadata", "`key base64value` pairs, comma-separated")
UPLOAD_DEFER_LENGTH = header(
    "Upload-Defer-Length", "`1`: the length comes with a later PATCH", Literal["1"]
)


def upload_length(description: str) -> Parameter:
    return header("Upload-Length", description, Annotated[int, Meta(minimum=1)])


# --- lists and search ------------------------------------------------------------------------

_Flag = bool
_When = Annotated[str, Meta(format="date-time")]
_ByteCount = Annotated[int, Meta(minimum=0, maximum=2**62)]
_SortOrder = Literal[tuple(order for field in SORT_FIELDS for order in (field, f"-{field}"))]  # type: ignore[valid-type]

LIMIT = query(
    "limit",
    Annotated[int, Meta(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT)],
    f"page size (default {DEFAULT_LIMIT})",
    component="Limit",
)
CURSOR = query(
    "cursor",
    str,
    "`next_cursor` of the previous page (opaque; one that isn't ours → 400)",
    component="Cursor",
)
FOLDER = query("folder", FolderOrEmpty, "only assets in this folder", component="Folder")
RECURSIVE = query("recursive", _Flag, "with `folder`: its subfolders too", component="Recursive")
INCLUDE_DELETED = query(
    "include_deleted",
    _Flag,
    "soft-deleted assets too (admins; others → 403)",
    component="IncludeDeleted",
)
SORT = query(
    "sort",
    Annotated[_SortOrder, Meta(default="-created_at")],
    "order, `-` for descending",
    component="Sort",
)
SEARCH_TYPE = query("type", Annotated[str, AssetTypes()], "an asset type", component="SearchType")
VERSION = query(
    "version",
    VersionNumber,
    "a version number (default: the current one)",
    component="Version",
)

#: the page and filters every list route takes
LIST = (LIMIT, CURSOR, FOLDER, RECURSIVE, INCLUDE_DELETED, SORT)
#: the filters of the search (and of the audio library)
SEARCH_FILTERS = (
    query(
        "q",
        Annotated[str, Meta(max_length=500)],
        "word prefixes of name, title, description, tags and original filename; "
        "case- and accent-insensitive",
        component="Q",
    ),
    query("tags", str, "comma-separated", component="Tags"),
    query(
        "tag_mode",
        Annotated[Literal["all", "any"], Meta(default="all")],
        "all of `tags` (default) or any of them",
        component="TagMode",
    ),
    query(
        "category",
        Annotated[str, Meta(max_length=255)],
        "exact category",
        component="Category",
    ),
    query(
        "mime",
        Annotated[str, Meta(max_length=255)],
        "a MIME type, or a family such as `audio/*`",
        component="Mime",
    ),
    query("min_size", _ByteCount, "bytes, inclusive", component="MinSize"),
    query("max_size", _ByteCount, "bytes, inclusive", component="MaxSize"),
    query("min_duration", Annotated[float, Meta(minimum=0)], "seconds", component="MinDuration"),
    query("max_duration", Annotated[float, Meta(minimum=0)], "seconds", component="MaxDuration"),
    query("created_after", _When, "ISO 8601", component="CreatedAfter"),
    query("created_before", _When, "ISO 8601", component="CreatedBefore"),
    query("updated_after", _When, "ISO 8601", component="UpdatedAfter"),
    query("updated_before", _When, "ISO 8601", component="UpdatedBefore"),
)

# --- downloads -------------------------------------------------------------------------------

LINK_VERSION = query(
    "version",
    VersionNumber,
    "a link pinned to this version (its answers are immutable: caches keep them until the "
    "link expires); without it, a link that follows the current version (revalidated). A "
    "preview link is always pinned, to the current version by default",
)
LINK_EXPIRES = query(
    "expires",
    Annotated[int, Meta(minimum=1, maximum=signing.MAX_LINK_LIFETIME - 1)],
    "seconds from now (default 3600), at most 7 days less `ASSET_LINK_WINDOW` (601200 with "
    "the default window of 3600 seconds; more → 400). The link's expiry is rounded up to "
    "the next window boundary past now + `expires`, so the same request within a window gets "
    "the same URL and caches can keep what it answers",
)
LINK_INLINE = query(
    "inline",
    bool,
    "a link that asks for `Content-Disposition: inline` (granted to the types `download`'s "
    "`inline` lists); signed into the link, so adding or removing it breaks the signature "
    "(403). A store's own presigned URL (`presign=true`) is always an attachment",
)

# --- previews --------------------------------------------------------------------------------

PREVIEW_KIND = query(
    "preview",
    str,
    "a link to this preview (thumbnail, poster, waveform) instead of the content",
)
PREVIEW_SIZE = query(
    "size",
    Literal[PICTURE_SIZES],  # type: ignore[valid-type]
    f"pictures: the longest side (default {DEFAULT_PICTURE_SIZE})",
)
PREVIEW_BUCKETS = query(
    "buckets",
    Annotated[int, Meta(minimum=MIN_WAVEFORM_BUCKETS, maximum=STORED_WAVEFORM_BUCKETS)],
    f"waveforms: peaks (default {DEFAULT_WAVEFORM_BUCKETS})",
)
PREVIEW = (
    VERSION,
    PREVIEW_SIZE,
    PREVIEW_BUCKETS,
    query("expires", int, "a signed link's expiry (Unix time)"),
    query("epoch", int, "a signed link's link epoch (the asset's deletes so far)"),
    query("signature", str, "a signed link's signature"),
)

DOWNLOAD = (
    VERSION,
    query(
        "inline",
        bool,
        "a preference for `Content-Disposition: inline` instead of attachment, granted only "
        "to types a browser shows without running code: PNG, JPEG, GIF, WEBP and AVIF "
        "images, `audio/*`, `video/*`, PDF and `text/plain`, and SVG whose stored bytes "
        "pass the SVG safety check again when served (up to "
        f"{MAX_INLINE_SVG_BYTES // (1024 * 1024)} MiB). Anything else (HTML, XHTML, XML, "
        "scripts, other `text/*`, office documents, `application/octet-stream`, other "
        "plugins' types) stays an attachment, with the same 200: the flag is a wish, "
        "never an error",
    ),
    query("redirect", bool, "answer 302 to a signed URL instead of the bytes (needs a token)"),
    query(
        "signature",
        str,
        "the signature of a signed link (with `expires`, `epoch`, and `version` for a link "
        "pinned to a version, `inline` for one shown inline); replaces the token. Pinned: "
        "`Cache-Control: public, max-age=<seconds to expiry>, immutable`; to the current "
        "version: `public, no-cache` (revalidated by ETag); a refusal: `no-store`",
    ),
    query(
        "expires",
        Annotated[int, Meta(minimum=0)],
        "a signed link's expiry time (Unix seconds)",
    ),
    query("epoch", Annotated[int, Meta(minimum=0)], "a signed link's link epoch"),
    header(
        "Range",
        "one byte range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix` (206); "
        "several ranges, or another unit, are answered with the whole content (200); a "
        "malformed, reversed or empty range, or one starting past the end, is a 416",
    ),
    header("If-Range", "an ETag or HTTP date: the range applies only if it still matches"),
    header("If-None-Match", "ETags: 304 if one matches"),
    header("If-Modified-Since", "an HTTP date: 304 if not modified since"),
)
