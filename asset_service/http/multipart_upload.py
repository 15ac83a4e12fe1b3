"""Receiving a file: the multipart upload every route that takes a file shares (a new asset, a
new version, the audio library), from the streamed body to the committed asset."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from quart import request

from asset_service.engine import (
    Asset,
    AssetEngine,
    NewAssetFields,
    Principal,
    UploadHandle,
    UploadSpec,
)
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput, PayloadTooLarge
from asset_service.engine.model import AssetType

from .context import services
from .multipart import read_upload_form

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


#: part Content-Types that say nothing about the bytes
_GENERIC_MIME = {"application/octet-stream", "text/plain"}


def declared_type_of(
    content_type: str | None, asset_types: Mapping[str, AssetType] | None = None
) -> str | None:
    """The asset type a file part's Content-Type names: one of the MIME types an asset type
    declares (its plugin's ``asset_types`` hook), else any ``audio/``, ``image/`` or
    ``video/`` type; parameters (``; charset=…``) are ignored."""
    if not content_type:
        return None
    content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type in _GENERIC_MIME:
        return None
    for asset_type in (asset_types or {}).values():
        if content_type in asset_type.mime_types:
            return asset_type.name
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
        custom = field_rules.check_custom(field_rules.parse_json(form["custom"], "custom"))
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
        wanted = (
            declared_type
            or from_field
            or declared_type_of(form.file_content_type, svc.engine.asset_types())
        )
        return await form.handle.commit(fields, declared_type=wanted)


def _upload_id_header() -> str:
    raw = request.headers.get("X-Upload-Id")
    if raw is None:
        return uuid.uuid4().hex
    if not (8 <= len(raw) <= 64) or not all(ch.isalnum() or ch in "-_" for ch in raw):
        raise InvalidInput("X-Upload-Id must be 8 to 64 letters, digits, '-' or '_'")
    return raw
