"""``/openapi.json`` and ``/docs``: the document is valid OpenAPI 3.1, describes exactly the routes
the app has (a route added, removed or renamed without the document fails here — and a route
without its ``@operation`` stops the app from being created), and the docs page needs nothing
from outside the service."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from asset_service.http import create_app
from asset_service.http.openapi import OPENAPI_KEY, PROBLEM_JSON, openapi_document

#: routes that serve the description itself, Quart's static files, GraphQL (its own schema is
#: docs/schema.graphql, checked by tests/api/test_graphql.py), and the web console's page and
#: files (pages for a browser, not API operations)
UNDOCUMENTED = {
    "/openapi.json",
    "/docs",
    "/graphql",
    "/graphql/static/<name>",
    "/",
    "/console/<path:name>",
}
IMPLICIT_METHODS = {"OPTIONS", "HEAD"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def openapi_path(rule: str) -> str:
    """``/api/assets/<asset_id>/versions/<int:number>`` → ``…/{asset_id}/versions/{number}``."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def app_routes(engine, settings) -> dict[str, dict[str, Any]]:
    """path → {"methods": set of HTTP methods, "arguments": {name: converter}}."""
    app = create_app(engine, settings)
    routes: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        # (WebSocket routes have no place in OpenAPI: their docs are the README's)
        if rule.endpoint == "static" or rule.rule in UNDOCUMENTED or rule.websocket:
            continue
        entry = routes.setdefault(openapi_path(rule.rule), {"methods": set(), "arguments": {}})
        entry["methods"] |= set(rule.methods or ())
        entry["arguments"].update(
            {name: type(converter).__name__ for name, converter in rule._converters.items()}
        )
    return routes


def document_for(engine, settings) -> dict[str, Any]:
    return openapi_document(create_app(engine, settings), sorted(engine.asset_types()))


def operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for key in node["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        node = target
    return node


# --- the document ---------------------------------------------------------------------------


async def test_the_document_is_valid_openapi_3_1(engine, settings):
    document = document_for(engine, settings)
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


async def test_every_route_is_documented_and_every_documented_route_exists(engine, settings):
    routes = app_routes(engine, settings)
    document = document_for(engine, settings)
    undocumented = sorted(set(routes) - set(document["paths"]))
    assert not undocumented, f"routes missing from the OpenAPI document: {undocumented}"
    missing = sorted(set(document["paths"]) - set(routes))
    assert not missing, f"documented paths the app has no route for: {missing}"
    for path, route in routes.items():
        documented = {m.upper() for m in document["paths"][path] if m in HTTP_METHODS}
        served = route["methods"]
        assert served - IMPLICIT_METHODS <= documented, (
            f"{path}: {sorted(served - IMPLICIT_METHODS - documented)} not documented"
        )
        assert documented <= served, f"{path}: {sorted(documented - served)} not served"


async def test_path_parameters_match_the_routes(engine, settings):
    routes = app_routes(engine, settings)
    document = document_for(engine, settings)
    for path, method, operation in operations(document):
        declared = {
            p["name"]: p
            for p in (resolve(document, p) for p in operation.get("parameters", []))
            if p["in"] == "path"
        }
        assert set(declared) == set(routes[path]["arguments"]), (method, path)
        assert set(declared) == set(re.findall(r"{([^}]+)}", path)), (method, path)
        for name, converter in routes[path]["arguments"].items():
            kind = resolve(document, declared[name]["schema"]).get("type")
            assert kind == ("integer" if converter == "IntegerConverter" else "string"), name


async def test_every_operation_documents_its_problems(engine, settings):
    document = document_for(engine, settings)
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for path, method, operation in operations(document):
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), (method, path)
        for status, response in responses.items():
            response = resolve(document, response)
            if status.startswith(("4", "5")) and not path.startswith("/readyz"):
                # a refused signed link answers a media element in text/plain (issue 13)
                media_answer = path.endswith("/download") and status in ("403", "404")
                expected = [PROBLEM_JSON, "text/plain"] if media_answer else [PROBLEM_JSON]
                assert list(response["content"]) == expected, (method, path, status)
        if {"bearerAuth": []} in operation["security"]:
            assert {"401", "400"} <= set(responses), (method, path)
            params = [p.get("$ref", "") for p in operation.get("parameters", [])]
            assert "#/components/parameters/CustomerId" in params, (method, path)
        if path.startswith("/api/") and "{asset_id}" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert "400" in responses, (method, path)


async def test_asset_types_come_from_the_engine(engine, settings):
    document = document_for(engine, settings)
    param = document["components"]["parameters"]["AssetType"]
    assert param["schema"]["enum"] == sorted(engine.asset_types())


# --- served ---------------------------------------------------------------------------------


async def test_openapi_json_is_served_without_a_token(client, engine, settings):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == document_for(engine, settings)


async def test_the_app_keeps_the_document_it_was_created_with(engine, settings):
    app = create_app(engine, settings)
    assert app.extensions[OPENAPI_KEY] == openapi_document(app, sorted(engine.asset_types()))


async def test_docs_page_is_self_contained(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'fetch("openapi.json"' in page
    # nothing from elsewhere: no absolute URLs, no external scripts, styles or fonts
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.IGNORECASE)
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page, re.IGNORECASE)
    assert "@import" not in page and "@font-face" not in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
async def test_docs_routes_answer_head_and_refuse_other_methods(client, path):
    assert (await client.head(path)).status_code == 200
    refused = await client.post(path)
    assert refused.status_code == 405
    assert refused.headers["content-type"] == PROBLEM_JSON
