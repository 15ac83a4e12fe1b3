"""``/api/assets``: upload, metadata, edits, delete and restore, versions, search."""

from __future__ import annotations

from quart import Blueprint, Response, request

from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput, PreconditionFailed
from asset_service.engine.model import format_time

from ..context import asset_id_from_path, caller, flag, json_body, parse_decimal, services
from ..query import asset_query, page_json
from ..responses import json_response, no_content
from ..serialize import asset_json
from ..uploads import receive_upload
from .content import _etag_matches as etag_matches

blueprint = Blueprint("assets", __name__)


def asset_response(asset, status: int = 200, location: bool = False) -> Response:  # type: ignore[no-untyped-def]
    headers = {"ETag": f'"r{asset.revision}"'}
    if location:
        headers["Location"] = f"/api/assets/{asset.asset_id}"
    return json_response(asset_json(asset), status, headers)


@blueprint.post("/api/assets/upload")
async def upload() -> Response:
    asset = await receive_upload(caller())
    return asset_response(asset, 201, location=True)


@blueprint.get("/api/assets/search")
async def search() -> Response:
    principal = caller()
    query = asset_query(request.args, principal.customer_id, search=True)
    if query.type is not None and query.type not in services().engine.asset_types():
        raise InvalidInput(
            f"type must be one of {', '.join(sorted(services().engine.asset_types()))}"
        )
    page = await services().engine.list(principal, query)
    return json_response(page_json(page))


@blueprint.get("/api/assets/<asset_id>")
async def get_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await services().engine.get(caller(), asset_id, include_deleted=flag("include_deleted"))
    etag = f'"r{asset.revision}"'
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        # Frontends keep records: the revision's ETag says theirs is still this one.
        response = Response("", status=304, headers={"ETag": etag})
        del response.headers["Content-Type"]
        return response
    return asset_response(asset)


def _if_match_revision() -> int | None:
    """The revision an ``If-Match: "r7"`` header pins, if any."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/")
    revision = parse_decimal(tag[2:-1]) if tag.startswith('"r') and tag.endswith('"') else None
    if revision is None:
        raise PreconditionFailed('If-Match must be the asset\'s ETag, such as "r3"')
    return revision


@blueprint.put("/api/assets/<asset_id>")
async def update_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    principal = caller()
    changes = field_rules.metadata_changes(await json_body())
    asset = await services().engine.update_metadata(
        principal, asset_id, changes, expected_revision=_if_match_revision()
    )
    return asset_response(asset)


@blueprint.delete("/api/assets/<asset_id>")
async def delete_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    if flag("permanent"):
        await engine.purge(caller(), asset_id)
    else:
        await engine.soft_delete(caller(), asset_id)
    return no_content()


@blueprint.post("/api/assets/<asset_id>/restore")
async def restore_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await services().engine.restore_deleted(caller(), asset_id)
    return asset_response(asset)


# --- versions ------------------------------------------------------------------------------


@blueprint.get("/api/assets/<asset_id>/versions")
async def list_versions(asset_id: str) -> Response:
    asset = await services().engine.get(caller(), asset_id_from_path(asset_id))
    items = [
        {
            "version": v.version,
            "created_at": format_time(v.created_at),
            "size": v.size,
            "checksum": v.checksum,
            "mime_type": v.mime_type,
            "original_filename": v.original_filename,
            "current": v.version == asset.current_version,
        }
        for v in reversed(asset.versions)
    ]
    return json_response({"items": items, "next_cursor": None})


@blueprint.post("/api/assets/<asset_id>/versions")
async def add_version(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await receive_upload(caller(), target_asset_id=asset_id)
    return asset_response(asset, 201, location=True)


@blueprint.post("/api/assets/<asset_id>/versions/<int:number>/restore")
async def restore_version(asset_id: str, number: int) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await services().engine.restore_version(caller(), asset_id, number)
    return asset_response(asset, 201, location=True)
