"""``/api/assets``: upload, metadata, download, delete."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from quart import Blueprint, Response, request

from asset_service.engine import (
    Asset,
    AssetEngine,
    NewAssetFields,
    Principal,
    UploadHandle,
    UploadSpec,
)
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput, NotFound, PayloadTooLarge
from asset_service.engine.model import Version

from ..context import asset_id_from_path, caller, flag, optional_caller, positive_int, services
from ..multipart import read_upload_form
from ..problems import HTTPProblem, problem_response, unauthorized
from ..ranges import ByteRange, RangeNotSatisfiable, parse_range
from ..serialize import asset_json

blueprint = Blueprint("assets", __name__)

#: the fields of an upload form besides ``file``
UPLOAD_FIELDS = (
    "name",
    "title",
    "description",
    "tags",
    "folder",
    "category",
    "custom",
    "visibility",
    "type",
)
#: a part's Content-Type that names a specific asset type (anything else says nothing).
#: ``text/plain`` is not one: clients send it for any ``*.txt`` name and as a generic default,
#: so it says nothing about the bytes (a PNG named ``photo.txt`` is an image).
_DECLARING_PREFIXES = {"audio/": "audio", "image/": "image", "video/": "video"}
_DOCUMENT_MIME = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None):
    response = Response(json.dumps(payload), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def declared_type_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    content_type = content_type.lower()
    if content_type in _DOCUMENT_MIME:
        return "document"
    for prefix, asset_type in _DECLARING_PREFIXES.items():
        if content_type.startswith(prefix):
            return asset_type
    return None


def new_asset_fields(form: dict[str, str]) -> NewAssetFields:
    unknown = set(form) - set(UPLOAD_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown form fields: {', '.join(sorted(unknown))}")
    custom: dict[str, Any] = {}
    if form.get("custom"):
        try:
            custom = json.loads(form["custom"])
        except json.JSONDecodeError:
            raise InvalidInput("custom must be a JSON object") from None
        custom = field_rules.check_custom(custom)
    return NewAssetFields(
        name=_optional_text(form, "name", field_rules.MAX_NAME),
        title=_optional_text(form, "title", field_rules.MAX_TITLE),
        description=_optional_text(
            form, "description", field_rules.MAX_DESCRIPTION, multiline=True
        ),
        tags=field_rules.normalize_tags(field_rules.parse_tag_list(form.get("tags", ""))),
        folder=field_rules.normalize_folder(form.get("folder", "/")),
        category=_optional_text(form, "category", field_rules.MAX_CATEGORY),
        custom=custom,
        visibility=field_rules.parse_visibility(form.get("visibility") or "customer"),
    )


def _optional_text(
    form: dict[str, str], key: str, limit: int, *, multiline: bool = False
) -> str | None:
    raw = form.get(key)
    if not raw:
        return None
    return field_rules.clean_text(raw, key, limit, multiline=multiline) or None


def declared_type_field(form: dict[str, str], engine: AssetEngine) -> str | None:
    value = form.get("type")
    if not value:
        return None
    if value not in engine.asset_types():
        known = ", ".join(sorted(engine.asset_types()))
        raise InvalidInput(f"type must be one of {known}")
    return value


async def receive_upload(
    principal: Principal,
    *,
    declared_type: str | None = None,
    target_asset_id: str | None = None,
) -> Asset:
    """Stream a multipart upload into the engine and commit it: the shared body of every
    route that takes a file (new asset, new version, the audio library)."""
    svc = services()
    max_bytes = svc.settings.max_upload_bytes
    # The multipart framing adds a little to the file: allow for it in the body limit.
    max_body = max_bytes + 1024 * 1024
    if request.content_length is not None and request.content_length > max_body:
        raise PayloadTooLarge(f"the upload is larger than {max_bytes} bytes")

    async def open_upload(filename: str, content_type: str | None) -> UploadHandle:
        return await svc.engine.begin_upload(
            UploadSpec(
                principal=principal,
                filename=field_rules.clean_filename(filename),
                max_bytes=max_bytes,
                declared_type=declared_type,
                target_asset_id=target_asset_id,
                # The body's length bounds the file's; the exact limit is enforced while
                # streaming (a file at the limit plus its framing must not be refused here).
                expected_bytes=(
                    None
                    if request.content_length is None
                    else min(request.content_length, max_bytes)
                ),
                upload_id=_upload_id_header(),
            )
        )

    form = await read_upload_form(
        request.body,
        request.headers.get("Content-Type"),
        open_upload,
        max_body_bytes=max_body,
        idle_timeout=svc.settings.upload_idle_timeout,
        # Counted here too, not only by the engine: an upload refused by the engine on its
        # last chunk can strand the commit that follows it (see the engine's _run_session).
        max_file_bytes=max_bytes,
    )
    async with form.handle:
        if target_asset_id is None:
            fields = new_asset_fields(form.fields)
            from_field = declared_type_field(form.fields, svc.engine)
        else:
            if set(form.fields) - {"type"}:
                raise InvalidInput("a new version takes only the file")
            fields, from_field = None, declared_type_field(form.fields, svc.engine)
        wanted = declared_type or from_field or declared_type_of(form.file_content_type)
        return await form.handle.commit(fields, declared_type=wanted)


def _upload_id_header() -> str:
    raw = request.headers.get("X-Upload-Id")
    if raw is None:
        return uuid.uuid4().hex
    if not (8 <= len(raw) <= 64) or not all(ch.isalnum() or ch in "-_" for ch in raw):
        raise InvalidInput("X-Upload-Id must be 8 to 64 letters, digits, '-' or '_'")
    return raw


@blueprint.post("/api/assets/upload")
async def upload() -> Response:
    asset = await receive_upload(caller())
    return json_response(asset_json(asset), 201, {"Location": f"/api/assets/{asset.asset_id}"})


@blueprint.get("/api/assets/<asset_id>")
async def get_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await services().engine.get(caller(), asset_id, include_deleted=flag("include_deleted"))
    return json_response(asset_json(asset), headers={"ETag": f'"r{asset.revision}"'})


@blueprint.delete("/api/assets/<asset_id>")
async def delete_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    if flag("permanent"):
        await engine.purge(caller(), asset_id)
    else:
        await engine.soft_delete(caller(), asset_id)
    return no_content()


def no_content() -> Response:
    response = Response("", status=204)
    del response.headers["Content-Type"]
    return response


# --- download ----------------------------------------------------------------------------


@blueprint.route("/api/assets/<asset_id>/download", methods=["GET", "HEAD"])
async def download(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    principal = optional_caller()
    version_number = positive_int("version")
    if principal is None:
        # Anonymous downloads are for public assets only; anything else needs a token.
        try:
            asset, version = await engine.content(None, asset_id, version_number)
        except NotFound:
            raise unauthorized("this needs 'Authorization: Bearer <token>'") from None
    else:
        asset, version = await engine.content(principal, asset_id, version_number)
    return serve_content(engine, asset, version, inline=flag("inline"))


def serve_content(engine: AssetEngine, asset: Asset, version: Version, *, inline: bool):
    size = version.size
    etag = f'"{version.checksum}"'
    last_modified = version.created_at.replace(microsecond=0)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        # The file name the version was uploaded with: ``name`` is a display name and may
        # have no extension.
        "Content-Disposition": content_disposition(version.original_filename, inline=inline),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache" if asset.visibility != "public" else "no-cache",
    }
    if inline:
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if _not_modified(etag, last_modified):
        response = Response("", status=304)
        for name in ("ETag", "Last-Modified", "Cache-Control"):
            response.headers[name] = headers[name]
        return response

    byte_range: ByteRange | None = None
    if _range_applies(etag, last_modified):
        try:
            byte_range = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable as error:
            return problem_response(
                416,
                "Range not satisfiable",
                str(error),
                {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            )
    status = 200
    offset, length = 0, size
    if byte_range is not None:
        status = 206
        offset, length = byte_range.start, byte_range.length
        headers["Content-Range"] = byte_range.content_range(size)

    body: Any = b"" if request.method == "HEAD" else _stream(engine, asset, version, offset, length)
    response = Response(body, status=status, content_type=version.mime_type)
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["Content-Length"] = str(length)
    response.timeout = None  # a long download must not be cut by RESPONSE_TIMEOUT
    return response


async def _stream(
    engine: AssetEngine, asset: Asset, version: Version, offset: int, length: int
) -> AsyncIterator[bytes]:
    # Given its values as arguments: this runs after the view has returned.
    async for chunk in engine.read(asset, version, offset, length):
        yield chunk


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII fallback ``filename`` and the exact name as ``filename*``."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in filename
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
        except (TypeError, ValueError):
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
    except (TypeError, ValueError):
        return False


__all__ = ["HTTPProblem", "blueprint", "json_response", "receive_upload"]
