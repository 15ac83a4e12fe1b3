"""The OpenAPI 3.1 description of the HTTP API, as plain Python data.

Served at ``/openapi.json`` and rendered at ``/docs`` (``routes/docs.py``). A test walks the app's
URL map and fails when a route and this document disagree (``tests/api/test_openapi.py``), and a
schema-driven fuzz run checks every answer against it (``tests/api/test_fuzz.py``). Limits are
taken from the modules that enforce them, so the two can't drift apart either.
"""

from __future__ import annotations

from typing import Any

from asset_service.engine import fields as field_rules
from asset_service.engine.content_safety import CONTENT_SECURITY_POLICY, MAX_INLINE_SVG_BYTES
from asset_service.engine.model import Role, Visibility
from asset_service.engine.search import SORT_FIELDS

from . import signing
from .header_limit import MAX_HEADER_BYTES, MAX_HEADER_FIELDS
from .multipart import MAX_FIELD_BYTES
from .query import DEFAULT_LIMIT, MAX_LIMIT
from .routes.library import MAX_MOVE
from .uploads import UPLOAD_FIELDS as _UPLOAD_FIELDS

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"
MULTIPART = "multipart/form-data"

Schema = dict[str, Any]


def ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema(name: str) -> Schema:
    return ref("schemas", name)


def nullable(of: Schema) -> Schema:
    return {"anyOf": [of, {"type": "null"}]}


# --- schemas ---------------------------------------------------------------------------------

_SEGMENTS = r"(/[^/\\\u0000-\u001f\u007f-\u009f]+)+/?"
#: a folder path as every route takes it (the pattern is the gist; the rules are in the text)
_FOLDER: Schema = {
    "type": "string",
    "pattern": f"^(/|{_SEGMENTS})$",
    "maxLength": field_rules.MAX_FOLDER,
    "description": "an absolute path such as `/podcasts/2026`: no empty, `.` or `..` segments, "
    "no backslashes or control characters, segments of at most "
    f"{field_rules.MAX_FOLDER_SEGMENT} characters; `/` is the root",
}
#: where an empty value means the root
_FOLDER_OR_EMPTY: Schema = {**_FOLDER, "pattern": f"^(/?|{_SEGMENTS})$"}
#: a folder to create: not the root, which always exists
_NEW_FOLDER: Schema = {
    **_FOLDER,
    "pattern": f"^{_SEGMENTS}$",
    "description": str(_FOLDER["description"]).replace("`/` is the root", "not the root `/`"),
}


def _schemas(asset_types: list[str]) -> dict[str, Schema]:
    timestamp = {"type": "string", "format": "date-time"}
    dimensions = {
        "type": "object",
        "required": ["width", "height"],
        "properties": {
            "width": {"type": "integer", "minimum": 0},
            "height": {"type": "integer", "minimum": 0},
        },
    }
    totals = {
        "type": "object",
        "required": ["count", "size", "duration"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "size": {"type": "integer", "minimum": 0, "description": "bytes"},
            "duration": {"type": "number", "minimum": 0, "description": "seconds"},
        },
    }
    visibility = {
        "type": "string",
        "enum": [v.value for v in Visibility],
        "description": "`customer` (the default): every user of the customer; `private`: "
        "the owner and admins only; `public`: downloadable without a token.",
    }
    return {
        "Asset": {
            "type": "object",
            "description": "An asset: the seed's record, plus category, checksum, current "
            "version, visibility, revision and what extraction found.",
            "required": [
                "asset_id",
                "customer_id",
                "user_id",
                "type",
                "name",
                "original_filename",
                "mime_type",
                "size",
                "duration",
                "dimensions",
                "storage",
                "metadata",
                "versions",
                "created_at",
                "updated_at",
                "deleted_at",
                "category",
                "checksum",
                "current_version",
                "visibility",
                "revision",
                "extracted",
            ],
            "properties": {
                "asset_id": {"type": "string", "format": "uuid"},
                "customer_id": {"type": "string"},
                "user_id": {"type": "string", "description": "the uploader"},
                "type": {
                    "type": "string",
                    "description": "the asset type; here one of: " + ", ".join(asset_types),
                },
                "name": {"type": "string", "maxLength": field_rules.MAX_NAME},
                "original_filename": {"type": "string"},
                "mime_type": {"type": "string", "description": "as detected from the bytes"},
                "size": {"type": "integer", "minimum": 0, "description": "bytes"},
                "duration": nullable({"type": "number", "minimum": 0}),
                "dimensions": nullable(schema("Dimensions")),
                "storage": schema("Storage"),
                "metadata": schema("Metadata"),
                "versions": {"type": "array", "items": schema("AssetVersion")},
                "created_at": timestamp,
                "updated_at": timestamp,
                "deleted_at": nullable(timestamp),
                "category": nullable({"type": "string"}),
                "checksum": {"type": "string", "description": "SHA-256, hex"},
                "current_version": {"type": "integer", "minimum": 1},
                "visibility": schema("Visibility"),
                "revision": {
                    "type": "integer",
                    "minimum": 1,
                    "description": 'bumped by every change; the `ETag` is `"r<revision>"`',
                },
                "extracted": {
                    "type": "object",
                    "description": "what the extractors found in the current version",
                },
            },
        },
        "Dimensions": dimensions,
        "Storage": {
            "type": "object",
            "required": ["bucket", "key"],
            "properties": {
                "bucket": {"type": "string"},
                "key": {"type": "string"},
                "url": nullable({"type": "string"}),
            },
        },
        "Metadata": {
            "type": "object",
            "required": ["title", "description", "tags", "folder", "custom"],
            "properties": {
                "title": nullable({"type": "string"}),
                "description": nullable({"type": "string"}),
                "tags": {"type": "array", "items": {"type": "string"}},
                "folder": {"type": "string", "examples": ["/podcasts/2026"]},
                "custom": {"type": "object"},
            },
        },
        "AssetVersion": {
            "type": "object",
            "description": "One stored content of an asset, as embedded in the asset.",
            "required": [
                "version",
                "created_at",
                "size",
                "storage_key",
                "checksum",
                "mime_type",
                "original_filename",
            ],
            "properties": {
                "version": {"type": "integer", "minimum": 1},
                "created_at": timestamp,
                "size": {"type": "integer", "minimum": 0},
                "storage_key": {"type": "string"},
                "checksum": {"type": "string"},
                "mime_type": {"type": "string"},
                "original_filename": {"type": "string"},
                "duration": nullable({"type": "number", "minimum": 0}),
                "dimensions": nullable(schema("Dimensions")),
            },
        },
        "Visibility": visibility,
        "VersionList": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {
                    "type": "array",
                    "description": "newest first",
                    "items": {
                        "type": "object",
                        "required": ["version", "created_at", "size", "checksum", "current"],
                        "properties": {
                            "version": {"type": "integer", "minimum": 1},
                            "created_at": timestamp,
                            "size": {"type": "integer", "minimum": 0},
                            "checksum": {"type": "string"},
                            "mime_type": {"type": "string"},
                            "original_filename": {"type": "string"},
                            "current": {"type": "boolean"},
                        },
                    },
                },
                "next_cursor": {"type": "null"},
            },
        },
        "AssetPage": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": schema("Asset")},
                "next_cursor": nullable(
                    {"type": "string", "description": "pass as `cursor` for the next page"}
                ),
            },
        },
        "Folder": {
            "type": "object",
            "required": ["path", "count"],
            "properties": {
                "path": {"type": "string", "examples": ["/podcasts/2026"]},
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "assets directly in the folder",
                },
            },
        },
        "FolderList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": schema("Folder")}},
        },
        "FacetList": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "count"],
                        "properties": {
                            "name": {"type": "string"},
                            "count": {"type": "integer", "minimum": 1},
                        },
                    },
                }
            },
        },
        "Moved": {
            "type": "object",
            "required": ["moved"],
            "properties": {"moved": {"type": "integer", "minimum": 0}},
        },
        "DownloadLink": {
            "type": "object",
            "required": ["url", "expires_at"],
            "properties": {
                "url": {"type": "string", "description": "downloads without a token"},
                "expires_at": timestamp,
            },
        },
        "Totals": totals,
        "AudioStats": {
            "type": "object",
            "required": ["count", "total_size", "total_duration", "by_format", "by_folder"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "total_size": {"type": "integer", "minimum": 0, "description": "bytes"},
                "total_duration": {"type": "number", "minimum": 0, "description": "seconds"},
                "by_format": {
                    "type": "object",
                    "description": "by format (mp3, wav, …)",
                    "additionalProperties": schema("Totals"),
                },
                "by_folder": {
                    "type": "object",
                    "description": "by folder path",
                    "additionalProperties": schema("Totals"),
                },
            },
        },
        "UploadProgress": {
            "type": "object",
            "required": ["upload_id", "received_bytes", "total_bytes", "state", "asset_id"],
            "properties": {
                "upload_id": {"type": "string"},
                "received_bytes": {"type": "integer", "minimum": 0},
                "total_bytes": nullable(
                    {"type": "integer", "minimum": 0, "description": "null while unknown"}
                ),
                "state": {
                    "type": "string",
                    "enum": ["receiving", "committing", "committed", "failed", "aborted"],
                },
                "asset_id": nullable(
                    {"type": "string", "format": "uuid", "description": "once committed"}
                ),
                "error": {"type": "string", "description": "why it failed, when it did"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "const": "ok"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not ready"]},
                "checks": {
                    "type": "object",
                    "description": 'each backend: "ok" or "error: …"',
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "Problem": {
            "type": "object",
            "description": "An RFC 9457 problem document.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string", "description": "what was wrong, for a person"},
            },
        },
        "AssetUpdate": {
            "type": "object",
            "description": "A partial update: only the fields sent change. `null` clears "
            "title, description and category. Unknown fields or wrong JSON types are a 400.",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": field_rules.MAX_NAME},
                "title": nullable({"type": "string", "maxLength": field_rules.MAX_TITLE}),
                "description": nullable(
                    {"type": "string", "maxLength": field_rules.MAX_DESCRIPTION}
                ),
                "tags": {
                    "type": "array",
                    "maxItems": field_rules.MAX_TAGS,
                    "items": {"type": "string", "maxLength": field_rules.MAX_TAG},
                },
                "folder": _FOLDER,
                "category": nullable({"type": "string", "maxLength": field_rules.MAX_CATEGORY}),
                "custom": {"type": "object"},
                "visibility": schema("Visibility"),
            },
        },
        "NewFolder": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {"path": {**_NEW_FOLDER, "examples": ["/podcasts/2026"]}},
        },
        "Move": {
            "type": "object",
            "additionalProperties": False,
            "required": ["asset_ids", "folder"],
            "properties": {
                "asset_ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_MOVE,
                    "items": {"type": "string", "format": "uuid"},
                },
                "folder": _FOLDER,
            },
        },
        "Upload": {
            "type": "object",
            "description": "The file and what to say about it. Text fields are at most "
            f"{MAX_FIELD_BYTES // 1024} KiB each.",
            "additionalProperties": False,
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "string",
                    "format": "binary",
                    "description": "the bytes; their content decides the type, not the name",
                },
                "name": {"type": "string", "maxLength": field_rules.MAX_NAME},
                "title": {"type": "string", "maxLength": field_rules.MAX_TITLE},
                "description": {"type": "string", "maxLength": field_rules.MAX_DESCRIPTION},
                "tags": {"type": "string", "description": "comma-separated"},
                "folder": {**_FOLDER_OR_EMPTY, "default": "/"},
                "category": {"type": "string", "maxLength": field_rules.MAX_CATEGORY},
                "custom": {
                    "type": "string",
                    "contentMediaType": JSON,
                    "description": "a JSON object",
                },
                "visibility": schema("Visibility"),
                "type": {
                    "type": "string",
                    "enum": asset_types,
                    "description": "the type the bytes must be (else 415)",
                },
            },
        },
        "NewVersion": {
            "type": "object",
            "additionalProperties": False,
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "type": {"type": "string", "enum": asset_types},
            },
        },
    }


# --- parameters ------------------------------------------------------------------------------


def _query(name: str, description: str, of: Schema, **extra: Any) -> Schema:
    return {"name": name, "in": "query", "description": description, "schema": of, **extra}


def _parameters(asset_types: list[str]) -> dict[str, Schema]:
    flag = {"type": "boolean"}
    when = {"type": "string", "format": "date-time"}
    sorts = [order for field in SORT_FIELDS for order in (field, f"-{field}")]
    return {
        "AssetId": {
            "name": "asset_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        },
        "UploadId": {
            "name": "upload_id",
            "in": "path",
            "required": True,
            "description": "a resumable upload's id (the last segment of its URL), or the "
            "`X-Upload-Id` a multipart upload was sent with",
            "schema": {"type": "string"},
        },
        "TusResumable": {
            "name": "Tus-Resumable",
            "in": "header",
            "required": True,
            "description": "the tus version the client speaks (else 412)",
            "schema": {"type": "string", "const": "1.0.0"},
        },
        "AssetType": {
            "name": "asset_type",
            "in": "path",
            "required": True,
            "description": "an asset type (an unknown one is a 404)",
            "schema": {"type": "string", "enum": asset_types},
        },
        "CustomerId": {
            "name": "X-Customer-Id",
            "in": "header",
            "description": "The customer a `service` token acts for (required with one: "
            "missing → 400); ignored for every other role.",
            "schema": {"type": "string"},
        },
        "Limit": _query(
            "limit",
            f"page size (default {DEFAULT_LIMIT})",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        ),
        "Cursor": _query(
            "cursor",
            "`next_cursor` of the previous page (opaque; one that isn't ours → 400)",
            {"type": "string"},
        ),
        "Folder": _query("folder", "only assets in this folder", _FOLDER_OR_EMPTY),
        "Recursive": _query("recursive", "with `folder`: its subfolders too", flag),
        "IncludeDeleted": _query(
            "include_deleted", "soft-deleted assets too (admins; others → 403)", flag
        ),
        "Sort": _query(
            "sort",
            "order, `-` for descending",
            {"type": "string", "enum": sorts, "default": "-created_at"},
        ),
        "Q": _query(
            "q",
            "word prefixes of name, title, description, tags and original filename; "
            "case- and accent-insensitive",
            {"type": "string", "maxLength": 500},
        ),
        "Tags": _query("tags", "comma-separated", {"type": "string"}),
        "TagMode": _query(
            "tag_mode",
            "all of `tags` (default) or any of them",
            {"type": "string", "enum": ["all", "any"], "default": "all"},
        ),
        "Category": _query("category", "exact category", {"type": "string", "maxLength": 255}),
        "Mime": _query(
            "mime",
            "a MIME type, or a family such as `audio/*`",
            {"type": "string", "maxLength": 255},
        ),
        "MinSize": _query(
            "min_size", "bytes, inclusive", {"type": "integer", "minimum": 0, "maximum": 2**62}
        ),
        "MaxSize": _query(
            "max_size", "bytes, inclusive", {"type": "integer", "minimum": 0, "maximum": 2**62}
        ),
        "MinDuration": _query("min_duration", "seconds", {"type": "number", "minimum": 0}),
        "MaxDuration": _query("max_duration", "seconds", {"type": "number", "minimum": 0}),
        "CreatedAfter": _query("created_after", "ISO 8601", when),
        "CreatedBefore": _query("created_before", "ISO 8601", when),
        "UpdatedAfter": _query("updated_after", "ISO 8601", when),
        "UpdatedBefore": _query("updated_before", "ISO 8601", when),
        "SearchType": _query("type", "an asset type", {"type": "string", "enum": asset_types}),
        "Version": _query(
            "version",
            "a version number (default: the current one)",
            {"type": "integer", "minimum": 1},
        ),
    }


_LIST_PARAMS = ["Limit", "Cursor", "Folder", "Recursive", "IncludeDeleted", "Sort"]
_SEARCH_FILTERS = [
    "Q",
    "Tags",
    "TagMode",
    "Category",
    "Mime",
    "MinSize",
    "MaxSize",
    "MinDuration",
    "MaxDuration",
    "CreatedAfter",
    "CreatedBefore",
    "UpdatedAfter",
    "UpdatedBefore",
]


# --- responses -------------------------------------------------------------------------------

_PROBLEMS = {
    "400": ("BadRequest", "Invalid input: a malformed parameter, header or body"),
    "401": ("Unauthorized", "No valid bearer token"),
    "403": ("Forbidden", "The caller's role may not do this"),
    "404": ("NotFound", "No such asset (or one the caller may not see), type or version"),
    "405": ("MethodNotAllowed", "Not a method of this URL (`Allow` names those that are)"),
    "408": ("RequestTimeout", "The request body stalled"),
    "409": (
        "Conflict",
        "A conflicting change: the asset changed too often meanwhile (try again), or an upload "
        "is not at the `Upload-Offset` sent, or is complete",
    ),
    "410": ("Gone", "The upload was terminated, has expired, or its content was refused"),
    "412": (
        "PreconditionFailed",
        "`If-Match` names a revision that is no longer current; for tus requests, no "
        "`Tus-Resumable: 1.0.0` (the answer's `Tus-Version` names the version spoken)",
    ),
    "413": ("PayloadTooLarge", "The body is larger than the service accepts"),
    "415": ("UnsupportedMediaType", "The body or its bytes are of a type not accepted here"),
    "416": ("RangeNotSatisfiable", "The `Range` lies outside the content"),
    "422": ("UnprocessableContent", "The bytes are of a known type but broken or dangerous"),
    "429": (
        "TooManyUploads",
        "The customer has as many resumable uploads open as it may (`ASSET_MAX_OPEN_UPLOADS`)",
    ),
    "431": (
        "RequestHeaderFieldsTooLarge",
        f"More than {MAX_HEADER_FIELDS} request header fields, or more than "
        f"{MAX_HEADER_BYTES // 1024} KiB of them",
    ),
    "460": (
        "ChecksumMismatch",
        "The bytes do not match their `Upload-Checksum` (tus); they were discarded",
    ),
    "503": ("ServiceUnavailable", "The service is shutting down"),
}


def _problem(description: str, headers: dict[str, Schema] | None = None) -> Schema:
    response: Schema = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": schema("Problem")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _responses() -> dict[str, Schema]:
    found = {name: _problem(text) for name, text in _PROBLEMS.values()}
    found["Unauthorized"]["headers"] = {
        "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
    }
    found["RangeNotSatisfiable"]["headers"] = {
        "Content-Range": {
            "schema": {"type": "string"},
            "description": "`bytes */<size>`",
            "required": True,
        }
    }
    return found


def _json(description: str, of: Schema, headers: dict[str, Schema] | None = None) -> Schema:
    response: Schema = {"description": description, "content": {JSON: {"schema": of}}}
    if headers:
        response["headers"] = headers
    return response


_ETAG = {
    "ETag": {
        "schema": {"type": "string", "examples": ['"r3"']},
        "description": "the asset's revision, for `If-Match`",
        "required": True,
    }
}
_LOCATION = {
    "Location": {
        "schema": {"type": "string"},
        "description": "the asset's URL",
        "required": True,
    }
}


def _asset(description: str, *, created: bool = False) -> Schema:
    headers = {**_ETAG, **_LOCATION} if created else _ETAG
    return _json(description, schema("Asset"), headers)


# --- operations ------------------------------------------------------------------------------

_BEARER = [{"bearerAuth": []}]
#: a token is optional: public assets and signed links download without one
_BEARER_OR_NONE: list[dict[str, list[str]]] = [{"bearerAuth": []}, {}]


def _op(
    tag: str,
    operation_id: str,
    summary: str,
    statuses: dict[str, Schema],
    problems: str,
    *,
    description: str = "",
    parameters: list[str | Schema] | None = None,
    body: Schema | None = None,
    security: list[dict[str, list[str]]] | None = None,
    authenticated: bool = True,
) -> Schema:
    """One operation: ``problems`` is the space-separated 4xx/5xx statuses it can answer.
    ``authenticated`` operations take a JWT (``security`` says how, by default required) and
    ``X-Customer-Id``; the others need no token unless ``security`` names one."""
    params = [ref("parameters", p) if isinstance(p, str) else p for p in parameters or []]
    if authenticated:
        params.append(ref("parameters", "CustomerId"))
    responses = dict(statuses)
    # every request: its headers are checked before it reaches any route (header_limit)
    for status in [*problems.split(), "431"]:
        responses[status] = ref("responses", _PROBLEMS[status][0])
    operation: Schema = {
        "tags": [tag],
        "operationId": operation_id,
        "summary": summary,
        "responses": dict(sorted(responses.items())),
    }
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    if security is None:
        security = _BEARER if authenticated else []
    operation["security"] = security
    return operation


def _json_body(name: str) -> Schema:
    return {"required": True, "content": {JSON: {"schema": schema(name)}}}


def _multipart_body(name: str) -> Schema:
    return {
        "required": True,
        "content": {
            MULTIPART: {
                "schema": schema(name),
                "encoding": {"file": {"contentType": "application/octet-stream, */*"}},
            }
        },
    }


_UPLOAD_ID = {
    "name": "X-Upload-Id",
    "in": "header",
    "description": "names the upload so its progress can be followed; at most one upload "
    "with an id at a time",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
}


def _header(name: str, description: str, of: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "header",
        "description": description,
        "schema": of or {"type": "string"},
    }


def _download_parameters() -> list[str | Schema]:
    return [
        "Version",
        _query(
            "inline",
            "a preference for `Content-Disposition: inline` instead of attachment, granted only "
            "to types a browser shows without running code: PNG, JPEG, GIF, WEBP and AVIF "
            "images, `audio/*`, `video/*`, PDF and `text/plain`, and SVG whose stored bytes "
            "pass the SVG safety check again when served (up to "
            f"{MAX_INLINE_SVG_BYTES // (1024 * 1024)} MiB). Anything else (HTML, XHTML, XML, "
            "scripts, other `text/*`, office documents, `application/octet-stream`, other "
            "plugins' types) stays an attachment, with the same 200: the flag is a wish, "
            "never an error",
            {"type": "boolean"},
        ),
        _query(
            "redirect",
            "answer 302 to a signed URL instead of the bytes (needs a token)",
            {"type": "boolean"},
        ),
        _query(
            "signature",
            "the signature of a signed link (with `version` and `expires`); replaces the token",
            {"type": "string"},
        ),
        _query(
            "expires",
            "a signed link's expiry time (Unix seconds)",
            {"type": "integer", "minimum": 0},
        ),
        _header(
            "Range",
            "one byte range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix` (206); "
            "several ranges, or another unit, are answered with the whole content (200); a "
            "malformed, reversed or empty range, or one starting past the end, is a 416",
        ),
        _header("If-Range", "an ETag or HTTP date: the range applies only if it still matches"),
        _header("If-None-Match", "ETags: 304 if one matches"),
        _header("If-Modified-Since", "an HTTP date: 304 if not modified since"),
    ]


def _download(method: str) -> Schema:
    content_headers = {
        "ETag": {"schema": {"type": "string"}, "description": "the version's checksum"},
        "Last-Modified": {"schema": {"type": "string"}},
        "Content-Disposition": {
            "schema": {"type": "string"},
            "description": "RFC 6266, with `filename*` for the exact name: `attachment`, or "
            "`inline` with `inline=true` for an inline-safe type (see `inline`)",
        },
        "Content-Security-Policy": {
            "schema": {"type": "string"},
            "description": f"`{CONTENT_SECURITY_POLICY}` on every download; an inline SVG's "
            "adds `style-src 'unsafe-inline'; img-src data:`",
        },
        "X-Content-Type-Options": {"schema": {"type": "string", "const": "nosniff"}},
        "Accept-Ranges": {"schema": {"type": "string", "const": "bytes"}},
    }
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    ranged = {
        **content_headers,
        "Content-Range": {"schema": {"type": "string"}, "required": True},
    }
    what = "The headers of the download" if method == "head" else "Download the content"
    operation = _op(
        "Content",
        f"{method}Download",
        what,
        {
            "200": {"description": "the content", "headers": content_headers, "content": binary},
            "206": {"description": "the requested range", "headers": ranged, "content": binary},
            "302": {
                "description": "with `redirect=true`: to a signed URL",
                "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
            },
            "304": {"description": "not modified (`If-None-Match` / `If-Modified-Since`)"},
        },
        "400 401 403 404 416 503",
        description="With a bearer token, any asset the caller may see; without one, public "
        "assets only (others → 401); with `signature`, the signed version until `expires` "
        "(a forged, altered or expired link → 403). A refused signed link asked for by a "
        "media element (a `Range` or a media `Sec-Fetch-Dest`, and no JSON in `Accept`) is "
        "answered in `text/plain`, which browsers pass on to the element (they block a JSON "
        "answer to it), so that a player sees the error and can fetch a new link.",
        parameters=["AssetId", *_download_parameters()],
        security=_BEARER_OR_NONE,
    )
    for status, description in (
        ("403", "a forged, altered or expired link"),
        ("404", "no such asset or version (a link outlives neither)"),
    ):
        operation["responses"][status] = {
            "description": description,
            "content": {
                PROBLEM_JSON: {"schema": schema("Problem")},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    return operation


def _paths() -> dict[str, Schema]:
    asset_id = ["AssetId"]
    return {
        "/healthz": {
            "get": _op(
                "Operations",
                "healthz",
                "Liveness: the process serves",
                {"200": _json("up", schema("Health"))},
                "",
                authenticated=False,
            )
        },
        "/readyz": {
            "get": _op(
                "Operations",
                "readyz",
                "Readiness: each backend's state",
                {
                    "200": _json("every backend answers", schema("Readiness")),
                    "503": _json("a backend does not answer", schema("Readiness")),
                },
                "",
                authenticated=False,
            )
        },
        "/metrics": {
            "get": _op(
                "Operations",
                "metrics",
                "Prometheus metrics",
                {
                    "200": {
                        "description": "requests by route and status, upload and download "
                        "bytes, actor queue depths, cleanup results",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                "401",
                description="Open unless `ASSET_METRICS_TOKEN` is set; then it needs "
                "`Authorization: Bearer <that token>` (not a JWT).",
                security=[{"metricsToken": []}, {}],
                authenticated=False,
            )
        },
        "/api/assets/upload": {
            "post": _op(
                "Assets",
                "uploadAsset",
                "Upload a new asset",
                {"201": _asset("the new asset", created=True)},
                "400 401 403 408 413 415 422 503",
                description="Streamed multipart upload (editors and admins). The bytes decide "
                "the type: a file of no accepted type, or not of the declared `type`, is a 415.",
                parameters=[_UPLOAD_ID],
                body=_multipart_body("Upload"),
            )
        },
        "/api/assets/search": {
            "get": _op(
                "Assets",
                "searchAssets",
                "Search assets",
                {"200": _json("a page of assets", schema("AssetPage"))},
                "400 401 403 503",
                description="Every filter combines with the others. Unknown parameters are "
                "ignored; a known one with an invalid value is a 400.",
                parameters=[*_LIST_PARAMS, "SearchType", *_SEARCH_FILTERS],
            )
        },
        "/api/assets/{asset_id}": {
            "get": _op(
                "Assets",
                "getAsset",
                "An asset's metadata",
                {
                    "200": _asset("the asset"),
                    "304": {"description": "not modified: `If-None-Match` names its ETag"},
                },
                "400 401 404 503",
                parameters=[
                    *asset_id,
                    _header("If-None-Match", 'ETags, such as `"r3"`: 304 if one is current'),
                    _query(
                        "include_deleted",
                        "a soft-deleted asset too (admins; for others it stays a 404)",
                        {"type": "boolean"},
                    ),
                ],
            ),
            "put": _op(
                "Assets",
                "updateAsset",
                "Edit an asset's metadata",
                {"200": _asset("the updated asset")},
                "400 401 403 404 409 412 503",
                description="A partial update (editors and admins). With `If-Match`, a stale "
                "revision is a 412.",
                parameters=[
                    *asset_id,
                    _header("If-Match", 'the ETag the edit is based on, such as `"r3"`'),
                ],
                body=_json_body("AssetUpdate"),
            ),
            "delete": _op(
                "Assets",
                "deleteAsset",
                "Delete an asset",
                {"204": {"description": "deleted"}},
                "400 401 403 404 409 503",
                description="A soft delete (editors and admins): the asset leaves lists and "
                "can be restored. With `permanent=true` (admins) every version is purged now.",
                parameters=[
                    *asset_id,
                    _query("permanent", "purge now (admins)", {"type": "boolean"}),
                ],
            ),
        },
        "/api/assets/{asset_id}/restore": {
            "post": _op(
                "Assets",
                "restoreAsset",
                "Undo a soft delete",
                {"200": _asset("the restored asset")},
                "400 401 403 404 409 503",
                description="Admins only.",
                parameters=asset_id,
            )
        },
        "/api/assets/{asset_id}/versions": {
            "get": _op(
                "Versions",
                "listVersions",
                "An asset's versions",
                {"200": _json("newest first", schema("VersionList"))},
                "400 401 404 503",
                parameters=asset_id,
            ),
            "post": _op(
                "Versions",
                "addVersion",
                "Upload a new version",
                {"201": _asset("the asset at its new version", created=True)},
                "400 401 403 404 408 409 413 415 422 503",
                description="New content for an existing asset, of the same type.",
                parameters=[*asset_id, _UPLOAD_ID],
                body=_multipart_body("NewVersion"),
            ),
        },
        "/api/assets/{asset_id}/versions/{number}/restore": {
            "post": _op(
                "Versions",
                "restoreVersion",
                "Make an old version current again",
                {"201": _asset("the asset; the restored content is a new version", created=True)},
                "400 401 403 404 409 503",
                parameters=[
                    *asset_id,
                    {
                        "name": "number",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
            )
        },
        "/api/assets/{asset_id}/download": {"get": _download("get"), "head": _download("head")},
        "/api/assets/{asset_id}/url": {
            "get": _op(
                "Content",
                "downloadUrl",
                "A download URL that needs no token",
                {"200": _json("the URL and when it expires", schema("DownloadLink"))},
                "400 401 404 503",
                parameters=[
                    *asset_id,
                    "Version",
                    _query(
                        "expires",
                        "seconds from now",
                        {"type": "integer", "minimum": 1, "maximum": signing.MAX_EXPIRES},
                    ),
                ],
            )
        },
        "/api/library/{asset_type}": {
            "get": _op(
                "Library",
                "listLibrary",
                "A type's assets",
                {"200": _json("a page of assets", schema("AssetPage"))},
                "400 401 403 404 503",
                parameters=["AssetType", *_LIST_PARAMS],
            )
        },
        "/api/library/{asset_type}/folder": {
            "post": _op(
                "Library",
                "createFolder",
                "Create a folder",
                {
                    "200": _json("it already existed", schema("Folder")),
                    "201": _json("created (with its parents)", schema("Folder")),
                },
                "400 401 403 404 503",
                parameters=["AssetType"],
                body=_json_body("NewFolder"),
            )
        },
        "/api/library/{asset_type}/folders": {
            "get": _op(
                "Library",
                "listFolders",
                "A type's folders with asset counts",
                {"200": _json("every folder, the root first", schema("FolderList"))},
                "400 401 404 503",
                parameters=["AssetType"],
            )
        },
        "/api/library/{asset_type}/move": {
            "put": _op(
                "Library",
                "moveAssets",
                "Move assets into a folder",
                {"200": _json("how many moved", schema("Moved"))},
                "400 401 403 404 409 503",
                description="All or nothing: one missing, inaccessible or wrong-type id and "
                "nothing moves; the problem names it.",
                parameters=["AssetType"],
                body=_json_body("Move"),
            )
        },
        "/api/library/{asset_type}/tags": {
            "get": _op(
                "Library",
                "listTags",
                "Tags in use, with counts",
                {"200": _json("tags by count", schema("FacetList"))},
                "400 401 404 503",
                parameters=["AssetType"],
            )
        },
        "/api/library/{asset_type}/categories": {
            "get": _op(
                "Library",
                "listCategories",
                "Categories in use, with counts",
                {"200": _json("categories by count", schema("FacetList"))},
                "400 401 404 503",
                parameters=["AssetType"],
            )
        },
        "/api/audio-library": {
            "get": _op(
                "Audio library",
                "listAudio",
                "List audio",
                {"200": _json("a page of audio assets", schema("AssetPage"))},
                "400 401 403 503",
                description="Audio assets, with every filter of the search.",
                parameters=[*_LIST_PARAMS, *_SEARCH_FILTERS],
            ),
            "post": _op(
                "Audio library",
                "saveAudio",
                "Save an audio file",
                {"201": _json("the new asset", schema("Asset"), _LOCATION)},
                "400 401 403 408 413 415 422 503",
                description="The same form as an upload; bytes that aren't audio are a 415.",
                parameters=[_UPLOAD_ID],
                body=_multipart_body("Upload"),
            ),
        },
        "/api/audio-library/{asset_id}": {
            "delete": _op(
                "Audio library",
                "deleteAudio",
                "Delete an audio asset",
                {"204": {"description": "soft-deleted"}},
                "400 401 403 404 409 503",
                description="A soft delete; an id that isn't audio is a 404.",
                parameters=asset_id,
            )
        },
        **_upload_paths(),
        "/api/audio-library/stats": {
            "get": _op(
                "Audio library",
                "audioStats",
                "Audio totals",
                {"200": _json("counts, bytes and seconds", schema("AudioStats"))},
                "400 401 403 503",
                description="Soft-deleted assets are left out unless asked for.",
                parameters=["Folder", "Recursive", "IncludeDeleted"],
            )
        },
    }


def _tus_header(description: str, of: Schema | None = None) -> Schema:
    return {"schema": of or {"type": "string"}, "description": description}


_UPLOAD_OFFSET = {
    "Upload-Offset": _tus_header("bytes received so far", {"type": "integer", "minimum": 0})
}
_UPLOAD_EXPIRES = {
    "Upload-Expires": _tus_header("when an unfinished upload expires (an HTTP date)")
}
_ASSET_ID = {"Asset-Id": _tus_header("the new asset's id, once the upload is committed")}
_TUS_RESUMABLE = {"Tus-Resumable": _tus_header("`1.0.0`", {"type": "string", "const": "1.0.0"})}


def _upload_paths() -> dict[str, Schema]:
    upload_id = ["UploadId"]
    tus = [ref("parameters", "TusResumable")]
    offset_stream = {
        "required": False,
        "content": {
            "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}
        },
    }
    metadata_keys = ", ".join(f"`{key}`" for key in ("filename", "filetype", *_UPLOAD_FIELDS))
    return {
        "/api/uploads/": {
            "post": _op(
                "Uploads",
                "createUpload",
                "Start a resumable upload (tus creation)",
                {
                    "201": {
                        "description": "created; with a body (creation-with-upload), the "
                        "bytes received, and the asset if they were all of it",
                        "headers": {
                            "Location": {
                                "schema": {"type": "string"},
                                "description": "the upload's URL",
                                "required": True,
                            },
                            **_UPLOAD_OFFSET,
                            **_UPLOAD_EXPIRES,
                            **_ASSET_ID,
                            **_TUS_RESUMABLE,
                        },
                    }
                },
                "400 401 403 404 408 409 412 413 415 422 429 460 503",
                description="tus 1.0.0 (core, creation, creation-with-upload, "
                "creation-defer-length, termination, expiration, checksum with sha1 and "
                "sha256, concatenation), as tus-js-client, Uppy and tuspy speak it; "
                "`OPTIONS` on this URL answers `Tus-Version`, `Tus-Extension`, "
                "`Tus-Max-Size` (the upload limit) and `Tus-Checksum-Algorithm` without a "
                "token. Editors and admins. "
                f"`Upload-Metadata` may carry {metadata_keys} (base64 values; other keys are "
                "ignored): the same fields as a multipart upload, `type` being the asset type "
                "or a MIME type. A creation request whose bytes fail leaves nothing. A customer "
                "has at most `ASSET_MAX_OPEN_UPLOADS` uploads open (429). Concatenation: "
                "`Upload-Concat: partial` makes a partial upload (never an asset by itself); "
                "`Upload-Concat: final;<url> <url>…` (the partials' URLs, as paths or absolute "
                "URLs; complete, and the caller's) commits them as one asset and answers like "
                "the PATCH that completes an upload: `Asset-Id`, or the content's 4xx. Any "
                "other `Upload-Concat` is a 400.",
                parameters=[
                    *tus,
                    _header(
                        "Upload-Length",
                        "the upload's size in bytes",
                        {"type": "integer", "minimum": 1},
                    ),
                    _header(
                        "Upload-Defer-Length",
                        "`1`: the length comes with a later PATCH",
                        {"type": "string", "const": "1"},
                    ),
                    _header("Upload-Metadata", "`key base64value` pairs, comma-separated"),
                    _header("Upload-Checksum", "`sha1|sha256 <base64 digest>` of the body"),
                    _header(
                        "Upload-Concat",
                        "`partial`, or `final;` and the partial uploads' URLs, space-separated",
                    ),
                ],
                body=offset_stream,
            )
        },
        "/api/uploads/{upload_id}": {
            "get": _op(
                "Uploads",
                "uploadProgress",
                "Follow an upload",
                {"200": _json("its progress", schema("UploadProgress"))},
                "400 401 404 410 503",
                description="A resumable upload, or a multipart upload sent with "
                "`X-Upload-Id` (while it runs and for ten minutes after). For the uploader "
                "and the customer's admins; anyone else gets a 404. `WebSocket /api/events` "
                "streams the same as `upload.progress` events.",
                parameters=upload_id,
            ),
            "head": _op(
                "Uploads",
                "uploadOffset",
                "A resumable upload's offset (tus)",
                {
                    "200": {
                        "description": "where to resume",
                        "headers": {
                            **_UPLOAD_OFFSET,
                            "Upload-Length": _tus_header(
                                "the upload's size, once known", {"type": "integer"}
                            ),
                            "Upload-Defer-Length": _tus_header("`1` while the length is unknown"),
                            "Upload-Metadata": _tus_header("as sent at creation"),
                            "Upload-Concat": _tus_header(
                                "`partial`, or `final;` and its partial uploads' paths"
                            ),
                            **_UPLOAD_EXPIRES,
                            **_ASSET_ID,
                            **_TUS_RESUMABLE,
                        },
                    }
                },
                "400 401 403 404 410 412 503",
                description="For a token that may upload (editors and admins), of the "
                "upload's creator or an admin of its customer.",
                parameters=[*upload_id, *tus],
            ),
            "patch": _op(
                "Uploads",
                "appendUpload",
                "Send bytes of a resumable upload (tus)",
                {
                    "204": {
                        "description": "the bytes are stored; when they were the last, the "
                        "upload is committed and `Asset-Id` names the new asset",
                        "headers": {
                            **_UPLOAD_OFFSET,
                            **_UPLOAD_EXPIRES,
                            **_ASSET_ID,
                            **_TUS_RESUMABLE,
                        },
                    }
                },
                "400 401 403 404 408 409 410 412 413 415 422 460 503",
                description="`Content-Type: application/offset+octet-stream` (else 415) at "
                "the upload's `Upload-Offset` (else 409). A body that breaks off keeps what "
                "arrived, unless it carried `Upload-Checksum`; a mismatching checksum is a "
                "460 and the bytes are dropped. The request that brings the last byte answers "
                "once the upload went through the same checks as a multipart upload — with "
                "the 4xx of refused content (the upload is then gone: 410), or 204 and "
                "`Asset-Id`. A complete upload takes no more bytes (409); a final upload "
                "(concatenation) takes none (403). Every request needs a token that may "
                "upload, whoever created the upload (403).",
                parameters=[
                    *upload_id,
                    *tus,
                    _header(
                        "Upload-Offset",
                        "where these bytes go",
                        {"type": "integer", "minimum": 0},
                    ),
                    _header(
                        "Upload-Length",
                        "the size, if creation deferred it",
                        {"type": "integer", "minimum": 1},
                    ),
                    _header("Upload-Checksum", "`sha1|sha256 <base64 digest>` of the body"),
                ],
                body={**offset_stream, "required": True},
            ),
            "delete": _op(
                "Uploads",
                "terminateUpload",
                "End a resumable upload (tus termination)",
                {"204": {"description": "its bytes are removed", "headers": _TUS_RESUMABLE}},
                "400 401 403 404 409 410 412 503",
                description="The bytes received are removed at once; until the upload would "
                "have expired, its URL answers 410. A partial upload a final upload has "
                "taken can't be ended (409).",
                parameters=[*upload_id, *tus],
            ),
            "post": _op(
                "Uploads",
                "overrideUploadMethod",
                "PATCH or DELETE through POST (tus method override)",
                {
                    "204": {
                        "description": "as the PATCH or DELETE named",
                        "headers": {
                            **_UPLOAD_OFFSET,
                            **_UPLOAD_EXPIRES,
                            **_ASSET_ID,
                            **_TUS_RESUMABLE,
                        },
                    }
                },
                "400 401 403 404 405 408 409 410 412 413 415 422 460 503",
                description="`X-HTTP-Method-Override: PATCH` or `DELETE` makes this `POST` "
                "that request, for clients behind proxies that pass only GET and POST "
                "(tus-js-client's `overridePatchMethod`). Without it: 405.",
                parameters=[
                    *upload_id,
                    *tus,
                    _header(
                        "X-HTTP-Method-Override",
                        "`PATCH` or `DELETE`",
                        {"type": "string", "enum": ["PATCH", "DELETE"]},
                    ),
                    _header(
                        "Upload-Offset",
                        "with PATCH: where these bytes go",
                        {"type": "integer", "minimum": 0},
                    ),
                    _header("Upload-Checksum", "`sha1|sha256 <base64 digest>` of the body"),
                ],
                body=offset_stream,
            ),
        },
    }


_TAGS = [
    ("Assets", "Upload, read, edit, delete and restore assets; search them."),
    ("Versions", "Every content an asset has had."),
    ("Content", "Downloads, ranged and conditional, and links that need no token."),
    ("Library", "A type's assets by folder, its folders, moves, tags and categories."),
    ("Audio library", "The audio endpoints of the old api-server."),
    ("Uploads", "Resumable uploads (tus 1.0.0) and the progress of any upload."),
    ("Operations", "Health and readiness."),
]


def openapi_document(asset_types: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API, for a service whose asset types are these."""
    types = sorted(asset_types)
    roles = ", ".join(f"`{role.value}`" for role in Role)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Asset Service",
            "version": "1",
            "description": "One service that owns every file a product handles: streamed "
            "uploads, ranged downloads, searchable metadata, versions, access control.\n\n"
            "JSON everywhere; every error is an RFC 9457 problem document "
            "(`application/problem+json`). Lists answer `{items, next_cursor}`. A user sees "
            "only their customer's assets: another customer's asset is a 404, never a 403.",
        },
        "tags": [{"name": name, "description": text} for name, text in _TAGS],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(types),
            "parameters": _parameters(types),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Claims: `sub` (the user), `customer_id`, `roles` (of "
                    f"{roles}); `exp` is required. A `service` token names the customer it "
                    "acts for in the `X-Customer-Id` header.",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`ASSET_METRICS_TOKEN`, for `/metrics` when it is set.",
                },
            },
        },
        "security": _BEARER,
    }
