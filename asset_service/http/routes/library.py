"""``/api/library/{type}``: a type's assets by folder, its folders, moves, tags and categories;
and ``/api/audio-library``, the audio endpoints the frontend used on the old api-server."""

from __future__ import annotations

from quart import Blueprint, Response, request

from asset_service.engine import AssetQuery
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput, NotFound

from ..context import caller, services
from ..multipart_upload import receive_upload
from ..params import asset_id_from_path, json_body
from ..query import asset_query
from ..responses import json_response, no_content
from ..schema import Body, Reply, bodies, operation, records, replies
from ..schema import parameters as param
from ..schema.bodies import MAX_MOVE
from ..serialize import asset_json
from ..stats import stats_json
from .previews import page_with_previews

blueprint = Blueprint("library", __name__)


def _known_type(asset_type: str) -> str:
    if asset_type not in services().engine.asset_types():
        raise NotFound(f"no asset type {asset_type!r}")
    return asset_type


@blueprint.get("/api/library/<asset_type>")
@operation(
    "Library",
    "listLibrary",
    "A type's assets",
    responses={200: Reply("a page of assets", records.AssetPage)},
    problems=[400, 401, 403, 404, 503],
    parameters=param.LIST,
)
async def list_type(asset_type: str) -> Response:
    principal = caller()
    query = asset_query(request.args, principal.customer_id, asset_type=_known_type(asset_type))
    page = await services().engine.list(principal, query)
    return json_response(await page_with_previews(page, query))


@blueprint.post("/api/library/<asset_type>/folder")
@operation(
    "Library",
    "createFolder",
    "Create a folder",
    responses={
        200: Reply("it already existed", records.Folder),
        201: Reply("created (with its parents)", records.Folder),
    },
    problems=[400, 401, 403, 404, 408, 503],
    body=Body.json(bodies.NewFolder),
)
async def create_folder(asset_type: str) -> Response:
    principal = caller()
    body = await json_body()
    if not isinstance(body, dict) or set(body) != {"path"}:
        raise InvalidInput('the body must be {"path": "/a/folder"}')
    path = field_rules.normalize_folder(body["path"])
    if path == "/":
        raise InvalidInput("the root folder always exists")
    folder, created = await services().engine.create_folder(
        principal, _known_type(asset_type), path
    )
    return json_response({"path": folder.path, "count": folder.count}, 201 if created else 200)


@blueprint.get("/api/library/<asset_type>/folders")
@operation(
    "Library",
    "listFolders",
    "A type's folders with asset counts",
    responses={200: Reply("every folder, the root first", records.FolderList)},
    problems=[400, 401, 404, 503],
)
async def list_folders(asset_type: str) -> Response:
    folders = await services().engine.folders(caller(), _known_type(asset_type))
    return json_response({"items": [{"path": f.path, "count": f.count} for f in folders]})


@blueprint.put("/api/library/<asset_type>/move")
@operation(
    "Library",
    "moveAssets",
    "Move assets into a folder",
    responses={200: Reply("how many moved", records.Moved)},
    problems=[400, 401, 403, 404, 408, 409, 503],
    description="All or nothing: one missing, inaccessible or wrong-type id and nothing moves; "
    "the problem names it.",
    body=Body.json(bodies.Move),
)
async def move(asset_type: str) -> Response:
    principal = caller()
    body = await json_body()
    if not isinstance(body, dict) or set(body) != {"asset_ids", "folder"}:
        raise InvalidInput('the body must be {"asset_ids": [...], "folder": "/a/folder"}')
    ids = body["asset_ids"]
    if not isinstance(ids, list) or not ids or len(ids) > MAX_MOVE:
        raise InvalidInput(f"asset_ids must be a list of 1 to {MAX_MOVE} ids")
    if not all(isinstance(i, str) for i in ids):
        raise InvalidInput("asset_ids must be strings")
    asset_ids = [asset_id_from_path(i) for i in ids]
    folder = field_rules.normalize_folder(body["folder"])
    moved = await services().engine.move(principal, _known_type(asset_type), asset_ids, folder)
    return json_response({"moved": moved})


async def _facets(asset_type: str, field: str) -> Response:
    principal = caller()
    query = AssetQuery(customer_id=principal.customer_id, type=_known_type(asset_type))
    facets = await services().engine.facets(principal, query, field)
    return json_response({"items": [{"name": f.name, "count": f.count} for f in facets]})


@blueprint.get("/api/library/<asset_type>/tags")
@operation(
    "Library",
    "listTags",
    "Tags in use, with counts",
    responses={200: Reply("tags by count", records.FacetList)},
    problems=[400, 401, 404, 503],
)
async def tags(asset_type: str) -> Response:
    return await _facets(asset_type, "tags")


@blueprint.get("/api/library/<asset_type>/categories")
@operation(
    "Library",
    "listCategories",
    "Categories in use, with counts",
    responses={200: Reply("categories by count", records.FacetList)},
    problems=[400, 401, 404, 503],
)
async def categories(asset_type: str) -> Response:
    return await _facets(asset_type, "category")


# --- the audio library ---------------------------------------------------------------------


@blueprint.get("/api/audio-library")
@operation(
    "Audio library",
    "listAudio",
    "List audio",
    responses={200: Reply("a page of audio assets", records.AssetPage)},
    problems=[400, 401, 403, 503],
    description="Audio assets, with every filter of the search.",
    parameters=[*param.LIST, *param.SEARCH_FILTERS],
)
async def audio_list() -> Response:
    principal = caller()
    query = asset_query(request.args, principal.customer_id, asset_type="audio", search=True)
    page = await services().engine.list(principal, query)
    return json_response(await page_with_previews(page, query))


@blueprint.post("/api/audio-library")
@operation(
    "Audio library",
    "saveAudio",
    "Save an audio file",
    responses={201: Reply("the new asset", records.Asset, replies.LOCATION)},
    problems=[400, 401, 403, 408, 413, 415, 422, 503],
    description="The same form as an upload; bytes that aren't audio are a 415.",
    parameters=[param.UPLOAD_ID],
    body=Body.multipart(bodies.Upload),
)
async def audio_save() -> Response:
    asset = await receive_upload(caller(), declared_type="audio")
    return json_response(asset_json(asset), 201, {"Location": f"/api/assets/{asset.asset_id}"})


@blueprint.delete("/api/audio-library/<asset_id>")
@operation(
    "Audio library",
    "deleteAudio",
    "Delete an audio asset",
    responses={204: Reply("soft-deleted")},
    problems=[400, 401, 403, 404, 409, 503],
    description="A soft delete; an id that isn't audio is a 404.",
)
async def audio_delete(asset_id: str) -> Response:
    principal = caller()
    engine = services().engine
    asset = await engine.get(principal, asset_id_from_path(asset_id))
    if asset.type != "audio":
        raise NotFound("no such audio asset")
    await engine.soft_delete(principal, asset.asset_id)
    return no_content()


@blueprint.get("/api/audio-library/stats")
@operation(
    "Audio library",
    "audioStats",
    "Audio totals",
    responses={200: Reply("counts, bytes and seconds", records.AudioStats)},
    problems=[400, 401, 403, 503],
    description="Soft-deleted assets are left out unless asked for.",
    parameters=[param.FOLDER, param.RECURSIVE, param.INCLUDE_DELETED],
)
async def audio_stats() -> Response:
    principal = caller()
    query = asset_query(request.args, principal.customer_id, asset_type="audio")
    return json_response(stats_json(await services().engine.stats(principal, query)))
