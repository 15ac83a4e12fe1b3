"""``/graphql``: GraphQL over HTTP (``POST`` with JSON, ``GET`` for queries) and, for a browser
asking for HTML, a page to write and run queries in. Same token, roles and tenancy as REST."""

from __future__ import annotations

import json
from typing import Any

import trio
from graphql import GraphQLSchema, print_schema
from quart import Blueprint, Response, current_app, request

from asset_service.engine.errors import InvalidInput

from ..context import caller, services
from ..cursors import cursor_key
from ..gql import GRAPHQL_THREADS, build_schema
from ..gql.execution import RequestError, request_from, run
from ..gql.schema import Context
from ..links import LinkBuilder
from ..package_files import PackageFiles
from ..params import json_body
from ..problems import HTTPProblem
from ..schema import records, undocumented
from ..schema.jsonschema import Components

blueprint = Blueprint("graphql", __name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
PAGE_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


#: the REST records GraphQL serves (their JSON schemas are the one source of both)
RECORDS = (
    records.Asset,
    records.Folder,
    records.FacetList,
    records.Totals,
    records.AudioStats,
    records.UploadProgress,
    records.DownloadLink,
    records.Moved,
)


def schema_for(asset_types: list[str]) -> GraphQLSchema:
    components = Components(asset_types)
    for model in RECORDS:
        components.schema_of(model)
    return build_schema(components.schemas)


PAGE = PackageFiles("asset_service.http.gql", "static")


async def _page_file(name: str) -> bytes:
    content = await PAGE.read(name)
    if content is None:
        raise HTTPProblem(404, "Not Found", "no such file")
    return content


def _state() -> tuple[GraphQLSchema, trio.CapacityLimiter]:
    extensions = current_app.extensions
    if "graphql" not in extensions:
        schema = schema_for(sorted(services().engine.asset_types()))
        extensions["graphql"] = (schema, trio.CapacityLimiter(GRAPHQL_THREADS))
    return extensions["graphql"]


def _wants_html() -> bool:
    accepted = request.accept_mimetypes
    return accepted.best_match(["text/html", "application/json", GRAPHQL_RESPONSE]) == "text/html"


def _answer(payload: dict[str, Any], *, refused: bool) -> Response:
    # graphql-response+json only when asked for by name: `*/*` and no Accept get plain JSON
    accepted = dict(request.accept_mimetypes)
    modern = accepted.get(GRAPHQL_RESPONSE, 0) >= accepted.get("application/json", 0) > 0 or (
        accepted.get(GRAPHQL_RESPONSE, 0) > 0 and "application/json" not in accepted
    )
    content_type = GRAPHQL_RESPONSE if modern else "application/json"
    # graphql-response+json says "400" for a request that never ran; plain JSON clients
    # expect 200 with `errors`.
    status = 400 if refused and content_type == GRAPHQL_RESPONSE else 200
    response = Response(json.dumps(payload), status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def _request_error(message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    response = Response(json.dumps(body), status=400, content_type="application/json")
    return response


async def _execute(params: dict[str, Any], *, allow_mutations: bool) -> Response:
    try:
        graphql_request = request_from(params)
    except RequestError as error:
        return _request_error(str(error))
    principal = caller()
    engine = services().engine
    settings = services().settings
    links = LinkBuilder(engine, services().links, settings.public_url)
    context = Context(engine, principal, links, cursor_key(settings.url_signing_secret))
    schema, limiter = _state()
    outcome = await run(schema, graphql_request, context, limiter, allow_mutations=allow_mutations)
    return _answer(outcome.payload, refused=outcome.refused)


@blueprint.post("/graphql")
@undocumented  # its schema is docs/schema.graphql
async def graphql_post() -> Response:
    if request.mimetype != "application/json":
        raise HTTPProblem(415, "Unsupported Media Type", "send the request as application/json")
    try:
        body = await json_body()
    except InvalidInput as error:
        return _request_error(error.reason)
    if not isinstance(body, dict):
        return _request_error("the body must be a JSON object with `query`")
    return await _execute(body, allow_mutations=True)


@blueprint.get("/graphql")
@undocumented
async def graphql_get() -> Response:
    if "query" not in request.args and _wants_html():
        response = Response(await _page_file("index.html"), content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response
    params: dict[str, Any] = {}
    for name in ("query", "operationName", "variables", "extensions"):
        values = request.args.getlist(name)
        if len(values) > 1:
            return _request_error(f"{name} is given more than once")
        if values:
            params[name] = values[0]
    if "variables" in params:
        try:
            params["variables"] = json.loads(params["variables"])
        except ValueError:
            return _request_error("`variables` must be a JSON object")
    params.pop("extensions", None)
    return await _execute(params, allow_mutations=False)


@blueprint.get("/graphql/static/<name>")
@undocumented
async def graphql_page_file(name: str) -> Response:
    content_type = PAGE_FILES.get(name)
    if content_type is None:
        raise HTTPProblem(404, "Not Found", "no such file")
    response = Response(await _page_file(name), content_type=content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


def schema_sdl(asset_types: list[str]) -> str:
    """The schema in SDL, as ``docs/schema.graphql`` holds it."""
    return print_schema(schema_for(asset_types)) + "\n"
