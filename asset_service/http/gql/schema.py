"""The GraphQL schema: queries and mutations over the same engine calls as the REST routes.

Record types come from the REST API's JSON schemas (``types.py``); arguments are validated by
the REST layer's own parsers (``asset_query``, ``metadata_changes``, ``normalize_folder``), so
a filter or a limit means the same thing on both. Resolvers run in a worker thread (see
``execution.py``) and reach the engine through ``Context.call``; tenancy and roles are the
engine's, as for REST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
)
from werkzeug.datastructures import MultiDict

from asset_service.engine import AssetEngine, AssetQuery, Principal
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput, NotFound

from ..links import LinkBuilder
from ..params import asset_id_from_path
from ..query import asset_query, page_json
from ..routes.previews import preview_json
from ..schema.bodies import MAX_MOVE
from ..serialize import asset_json, progress_json
from ..stats import stats_json
from .types import JSON, Long, TypesFromSchemas, snake

SCHEMA_DESCRIPTION = (
    "Asset Service: the assets, folders, tags and stats of the REST API, in one round trip. "
    "Uploads stay on REST (`POST /api/assets/upload`, `/api/assets/{id}/versions`) and tus "
    "(`/api/uploads`); their progress is readable here (`uploads`). Errors carry "
    "`extensions.code`: NOT_FOUND, FORBIDDEN, CONFLICT, BAD_USER_INPUT, "
    "UNAUTHENTICATED or QUERY_LIMIT."
)
#: a list field without a page size is assumed to hold this many items by the cost model
DEFAULT_LIST_COST = 10


@dataclass(frozen=True, slots=True)
class Context:
    """What one request's resolvers may use; captured before the worker thread starts (the
    resolvers must not touch Quart's request context)."""

    engine: AssetEngine
    principal: Principal
    links: LinkBuilder
    #: what page cursors are signed with (``http/cursors.py``)
    cursor_key: bytes

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run an engine coroutine on the Trio loop from a resolver's worker thread."""
        return trio.from_thread.run(fn, *args)


def _context(info: GraphQLResolveInfo) -> Context:
    return info.context


def _known_type(context: Context, asset_type: str) -> str:
    if asset_type not in context.engine.asset_types():
        raise NotFound(f"no asset type {asset_type!r}")
    return asset_type


# --- query arguments ---------------------------------------------------------------------

#: GraphQL argument → the REST query parameter it is (same parser, same rules)
SEARCH_ARGUMENTS: dict[str, tuple[Any, str, str]] = {
    "q": (GraphQLString, "q", "words; each must prefix a word of the name, title, tags…"),
    "type": (GraphQLString, "type", "an asset type"),
    "tags": (GraphQLList(GraphQLNonNull(GraphQLString)), "tags", "tags to match"),
    "tagMode": (GraphQLString, "tag_mode", "`all` (default) or `any`"),
    "folder": (GraphQLString, "folder", "a folder path"),
    "recursive": (GraphQLBoolean, "recursive", "include sub-folders of `folder`"),
    "category": (GraphQLString, "category", "a category"),
    "mime": (GraphQLString, "mime", "a MIME type"),
    "minSize": (Long, "min_size", "bytes"),
    "maxSize": (Long, "max_size", "bytes"),
    "minDuration": (GraphQLString, "min_duration", "seconds (a number)"),
    "maxDuration": (GraphQLString, "max_duration", "seconds (a number)"),
    "createdAfter": (GraphQLString, "created_after", "ISO 8601"),
    "createdBefore": (GraphQLString, "created_before", "ISO 8601"),
    "updatedAfter": (GraphQLString, "updated_after", "ISO 8601"),
    "updatedBefore": (GraphQLString, "updated_before", "ISO 8601"),
    "includeDeleted": (GraphQLBoolean, "include_deleted", "admins: include the trash"),
    "sort": (GraphQLString, "sort", "as REST: e.g. `-created_at`, `name`, `size`"),
    "limit": (GraphQLInt, "limit", "page size, 1 to 500 (default 50)"),
    "cursor": (GraphQLString, "cursor", "`nextCursor` of the previous page"),
}
PAGE_ARGUMENTS = ("folder", "recursive", "includeDeleted", "sort", "limit", "cursor")


def _as_query_args(arguments: dict[str, Any]) -> MultiDict[str, str]:
    args: MultiDict[str, str] = MultiDict()
    for name, value in arguments.items():
        if value is None:
            continue
        parameter = SEARCH_ARGUMENTS[name][1]
        if isinstance(value, bool):
            args.add(parameter, "true" if value else "false")
        elif isinstance(value, list):
            args.add(parameter, ",".join(value))
        else:
            args.add(parameter, str(value))
    return args


def _arguments(names: tuple[str, ...] | None = None) -> dict[str, GraphQLArgument]:
    return {
        name: GraphQLArgument(kind, description=text)
        for name, (kind, _, text) in SEARCH_ARGUMENTS.items()
        if names is None or name in names
    }


# --- resolvers ---------------------------------------------------------------------------


def _with_previews(context: Context, asset: Any, document: dict[str, Any]) -> dict[str, Any]:
    """The asset JSON with its current version's previews, as REST shows them."""
    states = context.call(context.engine.previews.of_version, asset)
    document["previews"] = [preview_json(state) for state in states]
    return document


def resolve_asset(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    context = _context(info)
    asset = context.call(context.engine.get, context.principal, asset_id_from_path(id))
    return _with_previews(context, asset, asset_json(asset))


def _page(context: Context, query: AssetQuery) -> dict[str, Any]:
    page = context.call(context.engine.list, context.principal, query)
    document = page_json(page, query, context.cursor_key)
    for asset, item in zip(page.items, document["items"], strict=True):
        _with_previews(context, asset, item)
    return document


def resolve_search(_root: Any, info: GraphQLResolveInfo, **arguments: Any) -> dict[str, Any]:
    context = _context(info)
    query = asset_query(
        _as_query_args(arguments),
        context.principal.customer_id,
        search=True,
        cursor_key=context.cursor_key,
    )
    if query.type is not None and query.type not in context.engine.asset_types():
        raise InvalidInput(f"type must be one of {', '.join(sorted(context.engine.asset_types()))}")
    return _page(context, query)


def resolve_library(
    _root: Any, info: GraphQLResolveInfo, type: str, **arguments: Any
) -> dict[str, Any]:
    context = _context(info)
    query = asset_query(
        _as_query_args(arguments),
        context.principal.customer_id,
        asset_type=_known_type(context, type),
        cursor_key=context.cursor_key,
    )
    return _page(context, query)


def resolve_folders(_root: Any, info: GraphQLResolveInfo, type: str) -> list[dict[str, Any]]:
    context = _context(info)
    folders = context.call(context.engine.folders, context.principal, _known_type(context, type))
    return [{"path": folder.path, "count": folder.count} for folder in folders]


def _facets(info: GraphQLResolveInfo, asset_type: str, field: str) -> list[dict[str, Any]]:
    context = _context(info)
    query = AssetQuery(
        customer_id=context.principal.customer_id, type=_known_type(context, asset_type)
    )
    facets = context.call(context.engine.facets, context.principal, query, field)
    return [{"name": facet.name, "count": facet.count} for facet in facets]


def resolve_audio_stats(_root: Any, info: GraphQLResolveInfo, **arguments: Any) -> dict[str, Any]:
    context = _context(info)
    query = asset_query(
        _as_query_args(arguments),
        context.principal.customer_id,
        asset_type="audio",
        cursor_key=context.cursor_key,
    )
    return stats_json(context.call(context.engine.stats, context.principal, query))


def resolve_upload(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    context = _context(info)
    return progress_json(context.call(context.engine.progress, context.principal, id))


def resolve_update_asset(
    _root: Any,
    info: GraphQLResolveInfo,
    id: str,
    changes: dict[str, Any],
    revision: int | None = None,
) -> dict[str, Any]:
    context = _context(info)
    validated = field_rules.metadata_changes({snake(key): value for key, value in changes.items()})
    asset = context.call(
        _update, context.engine, context.principal, asset_id_from_path(id), validated, revision
    )
    return asset_json(asset)


async def _update(
    engine: AssetEngine,
    principal: Principal,
    asset_id: str,
    changes: dict[str, Any],
    revision: int | None,
) -> Any:
    return await engine.update_metadata(principal, asset_id, changes, expected_revision=revision)


def resolve_move(
    _root: Any, info: GraphQLResolveInfo, type: str, ids: list[str], folder: str
) -> dict[str, int]:
    context = _context(info)
    if not ids or len(ids) > MAX_MOVE:
        raise InvalidInput(f"ids must be a list of 1 to {MAX_MOVE} ids")
    asset_ids = [asset_id_from_path(asset_id) for asset_id in ids]
    target = field_rules.normalize_folder(folder)
    moved = context.call(
        context.engine.move, context.principal, _known_type(context, type), asset_ids, target
    )
    return {"moved": moved}


def resolve_create_folder(
    _root: Any, info: GraphQLResolveInfo, type: str, path: str
) -> dict[str, Any]:
    context = _context(info)
    normalized = field_rules.normalize_folder(path)
    if normalized == "/":
        raise InvalidInput("the root folder always exists")
    folder, created = context.call(
        context.engine.create_folder, context.principal, _known_type(context, type), normalized
    )
    return {"path": folder.path, "count": folder.count, "created": created}


def resolve_delete(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    context = _context(info)
    return asset_json(
        context.call(context.engine.soft_delete, context.principal, asset_id_from_path(id))
    )


def resolve_restore(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    context = _context(info)
    return asset_json(
        context.call(context.engine.restore_deleted, context.principal, asset_id_from_path(id))
    )


def resolve_restore_version(
    _root: Any, info: GraphQLResolveInfo, id: str, version: int
) -> dict[str, Any]:
    context = _context(info)
    if version < 1:
        raise InvalidInput("version must be a positive integer")
    asset = context.call(
        context.engine.restore_version, context.principal, asset_id_from_path(id), version
    )
    return asset_json(asset)


def resolve_sign_link(
    _root: Any,
    info: GraphQLResolveInfo,
    id: str,
    version: int | None = None,
    expires: int | None = None,
    inline: bool = False,
) -> dict[str, Any]:
    context = _context(info)
    if version is not None and version < 1:
        raise InvalidInput("version must be a positive integer")
    link = partial(context.links.link, inline=inline)
    url, expires_at = context.call(
        link, context.principal, asset_id_from_path(id), version, expires
    )
    return {"url": url, "expires_at": expires_at}


# --- the schema --------------------------------------------------------------------------


def _entries(name: str, value: GraphQLObjectType) -> GraphQLObjectType:
    """A JSON map as a list of entries (GraphQL has no maps)."""
    return GraphQLObjectType(
        name,
        {
            "key": GraphQLField(GraphQLNonNull(GraphQLString)),
            "value": GraphQLField(GraphQLNonNull(value)),
        },
    )


def _map_field(key: str, entry: GraphQLObjectType, description: str) -> GraphQLField:
    def resolve(parent: dict[str, Any], _info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        return [{"key": k, "value": v} for k, v in parent[key].items()]

    return GraphQLField(
        GraphQLNonNull(GraphQLList(GraphQLNonNull(entry))), description=description, resolve=resolve
    )


def build_schema(components: dict[str, dict[str, Any]]) -> GraphQLSchema:
    """The schema, from the REST API's component schemas (``/openapi.json``)."""
    types = TypesFromSchemas(components)
    asset = types.object_type("Asset")
    folder = types.object_type("Folder")
    totals = types.object_type("Totals")
    upload = types.object_type("UploadProgress")
    link = types.object_type("DownloadLink")
    moved = types.object_type("Moved")
    facet = types.output(components["FacetList"]["properties"]["items"]["items"], "Facet")
    connection = GraphQLObjectType(
        "AssetConnection",
        {
            "items": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(asset)))),
            "nextCursor": GraphQLField(
                GraphQLString,
                description="pass as `cursor` for the next page; null on the last",
                resolve=lambda page, _info: page["next_cursor"],
            ),
        },
        description="One page of assets.",
    )
    totals_entry = _entries("TotalsEntry", totals)
    stats = GraphQLObjectType(
        "AudioLibraryStats",
        {
            "count": GraphQLField(GraphQLNonNull(Long), resolve=lambda s, _i: s["count"]),
            "totalSize": GraphQLField(
                GraphQLNonNull(Long), description="bytes", resolve=lambda s, _i: s["total_size"]
            ),
            "totalDuration": GraphQLField(
                GraphQLNonNull(types.output({"type": "number"}, "x")),
                description="seconds",
                resolve=lambda s, _i: s["total_duration"],
            ),
            "byFormat": _map_field("by_format", totals_entry, "by format (mp3, wav, …)"),
            "byFolder": _map_field("by_folder", totals_entry, "by folder path"),
        },
        description="The audio library's totals, as `GET /api/audio-library/stats`.",
    )
    created_folder = GraphQLObjectType(
        "CreatedFolder",
        {
            "path": GraphQLField(GraphQLNonNull(GraphQLString), resolve=lambda f, _i: f["path"]),
            "count": GraphQLField(GraphQLNonNull(Long), resolve=lambda f, _i: f["count"]),
            "created": GraphQLField(
                GraphQLNonNull(GraphQLBoolean),
                description="false when the folder was already there",
                resolve=lambda f, _i: f["created"],
            ),
        },
    )
    changes = GraphQLInputObjectType(
        "AssetChanges",
        {
            "name": GraphQLInputField(GraphQLString),
            "title": GraphQLInputField(GraphQLString, description="null clears it"),
            "description": GraphQLInputField(GraphQLString, description="null clears it"),
            "category": GraphQLInputField(GraphQLString, description="null clears it"),
            "tags": GraphQLInputField(GraphQLList(GraphQLNonNull(GraphQLString))),
            "folder": GraphQLInputField(GraphQLString),
            "custom": GraphQLInputField(JSON, description="a JSON object"),
            "visibility": GraphQLInputField(GraphQLString, description="customer, private, public"),
        },
        description="The fields to change; absent ones stay as they are.",
    )
    type_arg = {"type": GraphQLArgument(GraphQLNonNull(GraphQLString), description="asset type")}
    id_arg = {"id": GraphQLArgument(GraphQLNonNull(GraphQLID), description="the asset id")}
    query = GraphQLObjectType(
        "Query",
        {
            "asset": GraphQLField(asset, args=id_arg, resolve=resolve_asset),
            "search": GraphQLField(
                GraphQLNonNull(connection),
                args=_arguments(),
                resolve=resolve_search,
                description="As `GET /api/assets/search`: every filter optional.",
            ),
            "library": GraphQLField(
                GraphQLNonNull(connection),
                args={**type_arg, **_arguments(PAGE_ARGUMENTS)},
                resolve=resolve_library,
                description="A type's assets, by folder (`GET /api/library/{type}`).",
            ),
            "folders": GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(folder))),
                args=type_arg,
                resolve=resolve_folders,
            ),
            "tags": GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(facet))),
                args=type_arg,
                resolve=lambda _r, info, type: _facets(info, type, "tags"),
            ),
            "categories": GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(facet))),
                args=type_arg,
                resolve=lambda _r, info, type: _facets(info, type, "category"),
            ),
            "audioLibraryStats": GraphQLField(
                GraphQLNonNull(stats),
                args=_arguments(("folder", "recursive")),
                resolve=resolve_audio_stats,
            ),
            "uploads": GraphQLField(
                upload,
                args={"id": GraphQLArgument(GraphQLNonNull(GraphQLID), description="upload id")},
                resolve=resolve_upload,
                description="An upload's progress, as `GET /api/uploads/{id}`.",
            ),
        },
    )
    mutation = GraphQLObjectType(
        "Mutation",
        {
            "updateAsset": GraphQLField(
                GraphQLNonNull(asset),
                args={
                    **id_arg,
                    "changes": GraphQLArgument(GraphQLNonNull(changes)),
                    "revision": GraphQLArgument(
                        GraphQLInt,
                        description="the revision the change is based on (REST's If-Match): "
                        "CONFLICT when the asset has changed since",
                    ),
                },
                resolve=resolve_update_asset,
            ),
            "moveAssets": GraphQLField(
                GraphQLNonNull(moved),
                args={
                    **type_arg,
                    "ids": GraphQLArgument(GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLID)))),
                    "folder": GraphQLArgument(GraphQLNonNull(GraphQLString)),
                },
                resolve=resolve_move,
                description="All or nothing, as `PUT /api/library/{type}/move`.",
            ),
            "createFolder": GraphQLField(
                GraphQLNonNull(created_folder),
                args={**type_arg, "path": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=resolve_create_folder,
            ),
            "deleteAsset": GraphQLField(
                GraphQLNonNull(asset),
                args=id_arg,
                resolve=resolve_delete,
                description="Soft delete (to the trash); the asset as it now is.",
            ),
            "restoreAsset": GraphQLField(
                GraphQLNonNull(asset),
                args=id_arg,
                resolve=resolve_restore,
                description="Back from the trash (admins).",
            ),
            "restoreVersion": GraphQLField(
                GraphQLNonNull(asset),
                args={**id_arg, "version": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                resolve=resolve_restore_version,
                description="An older version's content becomes a new current version.",
            ),
            "signLink": GraphQLField(
                GraphQLNonNull(link),
                args={
                    **id_arg,
                    "version": GraphQLArgument(GraphQLInt),
                    "expires": GraphQLArgument(
                        GraphQLInt,
                        description="seconds (default 3600), at most 7 days less "
                        "ASSET_LINK_WINDOW; the expiry is rounded up to the window",
                    ),
                    "inline": GraphQLArgument(
                        GraphQLBoolean,
                        description="a link shown inline where the type allows (signed)",
                    ),
                },
                resolve=resolve_sign_link,
                description="A download link that works without a token until it expires: "
                "pinned to `version` if given, else following the current version. The same "
                "request within a link window gets the same URL (REST's `/url`).",
            ),
        },
    )
    return GraphQLSchema(query=query, mutation=mutation, description=SCHEMA_DESCRIPTION)
