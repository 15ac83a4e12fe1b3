"""``/api/assets``: upload, metadata, edits, delete and restore, versions, search."""

from __future__ import annotations

from quart import Blueprint, Response, request

from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput
from asset_service.engine.model import format_time

from ..conditional import etag_matches, if_match_revision
from ..context import caller, services
from ..multipart_upload import receive_upload
from ..params import asset_id_from_path, flag, json_body
from ..query import asset_query
from ..responses import json_response, no_content
from ..schema import Body, Reply, bodies, header, operation, query, records, replies
from ..schema import parameters as param
from ..serialize import asset_json
from .previews import page_with_previews, with_previews

blueprint = Blueprint("assets", __name__)


def asset_response(asset, status: int = 200, location: bool = False) -> Response:  # type: ignore[no-untyped-def]
    headers = {"ETag": f'"r{asset.revision}"'}
    if location:
        headers["Location"] = f"/api/assets/{asset.asset_id}"
    return json_response(asset_json(asset), status, headers)


@blueprint.post("/api/assets/upload")
@operation(
    "Assets",
    "uploadAsset",
    "Upload a new asset",
    responses={201: replies.asset("the new asset", created=True)},
    problems=[400, 401, 403, 408, 413, 415, 422, 503],
    description="Streamed multipart upload (editors and admins). The bytes decide the type: a "
    "file of no accepted type, or not of the declared `type`, is a 415.",
    parameters=[param.UPLOAD_ID],
    body=Body.multipart(bodies.Upload),
)
async def upload() -> Response:
    asset = await receive_upload(caller())
    response = asset_response(asset, 201, location=True)
    return await _with_previews(asset, response)


@blueprint.get("/api/assets/search")
@operation(
    "Assets",
    "searchAssets",
    "Search assets",
    responses={200: Reply("a page of assets", records.AssetPage)},
    problems=[400, 401, 403, 503],
    description="Every filter combines with the others. Unknown parameters are ignored; a known "
    "one with an invalid value is a 400.",
    parameters=[*param.LIST, param.SEARCH_TYPE, *param.SEARCH_FILTERS],
)
async def search() -> Response:
    principal = caller()
    query = asset_query(request.args, principal.customer_id, search=True)
    if query.type is not None and query.type not in services().engine.asset_types():
        raise InvalidInput(
            f"type must be one of {', '.join(sorted(services().engine.asset_types()))}"
        )
    page = await services().engine.list(principal, query)
    return json_response(await page_with_previews(page, query))


@blueprint.get("/api/assets/<asset_id>")
@operation(
    "Assets",
    "getAsset",
    "An asset's metadata",
    responses={
        200: replies.asset("the asset"),
        304: Reply("not modified: `If-None-Match` names the current revision's ETag"),
    },
    problems=[400, 401, 404, 503],
    parameters=[
        query(
            "include_deleted",
            bool,
            "a soft-deleted asset too (admins; for others it stays a 404)",
        ),
        header("If-None-Match", 'the ETag a client keeps, such as `"r3"`: 304 while current'),
    ],
)
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
    return await _with_previews(asset, asset_response(asset))


async def _with_previews(asset, response: Response) -> Response:  # type: ignore[no-untyped-def]
    """previews: the asset JSON with its current version's previews (routes/previews.py)."""
    document = await with_previews(asset, asset_json(asset))
    replaced = json_response(document, response.status_code)
    for name in ("ETag", "Location"):
        if name in response.headers:
            replaced.headers[name] = response.headers[name]
    return replaced


@blueprint.put("/api/assets/<asset_id>")
@operation(
    "Assets",
    "updateAsset",
    "Edit an asset's metadata",
    responses={200: replies.asset("the updated asset")},
    problems=[400, 401, 403, 404, 408, 409, 412, 503],
    description="A partial update (editors and admins). With `If-Match`, a stale revision is a "
    "412.",
    parameters=[header("If-Match", 'the ETag the edit is based on, such as `"r3"`')],
    body=Body.json(bodies.AssetUpdate),
)
async def update_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    principal = caller()
    changes = field_rules.metadata_changes(await json_body())
    asset = await services().engine.update_metadata(
        principal, asset_id, changes, expected_revision=if_match_revision()
    )
    return asset_response(asset)


@blueprint.delete("/api/assets/<asset_id>")
@operation(
    "Assets",
    "deleteAsset",
    "Delete an asset",
    responses={204: Reply("deleted")},
    problems=[400, 401, 403, 404, 409, 503],
    description="A soft delete (editors and admins): the asset leaves lists and can be "
    "restored. With `permanent=true` (admins) every version is purged now.",
    parameters=[query("permanent", bool, "purge now (admins)")],
)
async def delete_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    engine = services().engine
    if flag("permanent"):
        await engine.purge(caller(), asset_id)
    else:
        await engine.soft_delete(caller(), asset_id)
    return no_content()


@blueprint.post("/api/assets/<asset_id>/restore")
@operation(
    "Assets",
    "restoreAsset",
    "Undo a soft delete",
    responses={200: replies.asset("the restored asset")},
    problems=[400, 401, 403, 404, 409, 503],
    description="Admins only.",
)
async def restore_asset(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await services().engine.restore_deleted(caller(), asset_id)
    return asset_response(asset)


# --- versions ------------------------------------------------------------------------------


@blueprint.get("/api/assets/<asset_id>/versions")
@operation(
    "Versions",
    "listVersions",
    "An asset's versions",
    responses={200: Reply("newest first", records.VersionList)},
    problems=[400, 401, 404, 503],
)
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
@operation(
    "Versions",
    "addVersion",
    "Upload a new version",
    responses={201: replies.asset("the asset at its new version", created=True)},
    problems=[400, 401, 403, 404, 408, 409, 413, 415, 422, 503],
    description="New content for an existing asset, of the same type.",
    parameters=[param.UPLOAD_ID],
    body=Body.multipart(bodies.NewVersion),
)
async def add_version(asset_id: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await receive_upload(caller(), target_asset_id=asset_id)
    return asset_response(asset, 201, location=True)


@blueprint.post("/api/assets/<asset_id>/versions/<int:number>/restore")
@operation(
    "Versions",
    "restoreVersion",
    "Make an old version current again",
    responses={
        201: replies.asset("the asset; the restored content is a new version", created=True)
    },
    problems=[400, 401, 403, 404, 409, 503],
)
async def restore_version(asset_id: str, number: int) -> Response:
    asset_id = asset_id_from_path(asset_id)
    asset = await services().engine.restore_version(caller(), asset_id, number)
    return asset_response(asset, 201, location=True)
