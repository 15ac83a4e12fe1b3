"""The layer that generates the OpenAPI document: a route cannot exist without its declaration
(``@operation``), a declaration cannot drift from its route (methods, path parameters), and the
typed models turn into the JSON Schema the document shows — and match what the routes answer."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

import pytest
from quart import Blueprint, Response
from quart_trio import QuartTrio

import asset_service.http.app as app_module
from asset_service.http import create_app
from asset_service.http import multipart_upload as multipart_uploads
from asset_service.http.openapi import UndeclaredRoute, openapi_document
from asset_service.http.schema import Meta, Reply, bodies, operation, records, undocumented
from asset_service.http.schema.jsonschema import Components, Named, SchemaError, closed

TYPES = ["audio", "image"]
OK = {200: Reply("fine")}


def app_with(*blueprints: Blueprint) -> QuartTrio:
    app = QuartTrio("test")
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


async def view(**_: Any) -> Response:
    return Response("")


def route(rule: str, *decorators: Any, methods: tuple[str, ...] = ("GET",)) -> Blueprint:
    """A blueprint with one route at ``rule``, its view under ``decorators`` (outermost first)."""
    blueprint = Blueprint(f"test{abs(hash((rule, decorators, methods)))}", __name__)
    function: Any = lambda **kwargs: view(**kwargs)  # noqa: E731 (a new function each time)
    for decorator in reversed(decorators):
        function = decorator(function)
    blueprint.add_url_rule(rule, "view", function, methods=list(methods))
    return blueprint


def get_op(operation_id: str = "op", **declared: Any) -> Any:
    return operation("Operations", operation_id, "a summary", responses=OK, **declared)


# --- a route needs its declaration -----------------------------------------------------------


async def test_a_route_without_its_operation_stops_the_app(engine, settings, monkeypatch):
    extra = route("/api/extra")
    monkeypatch.setattr(app_module, "BLUEPRINTS", (*app_module.BLUEPRINTS, extra))
    with pytest.raises(UndeclaredRoute, match=r"/api/extra .* has no @operation"):
        create_app(engine, settings)


def test_each_method_a_route_serves_needs_a_declaration():
    with pytest.raises(UndeclaredRoute, match="POST has no @operation"):
        openapi_document(
            app_with(route("/x", get_op(method="GET"), methods=("GET", "POST"))), TYPES
        )


def test_a_declaration_of_a_method_the_route_does_not_serve_fails():
    with pytest.raises(UndeclaredRoute, match=r"declares \['PUT'\]"):
        openapi_document(app_with(route("/x", get_op(), get_op("put", method="PUT"))), TYPES)


def test_the_same_method_cannot_be_declared_twice():
    with pytest.raises(ValueError, match="declared twice"):
        route("/x", get_op(method="GET"), get_op("again", method="GET"))


def test_head_is_documented_only_when_declared():
    implicit = openapi_document(app_with(route("/x", get_op())), TYPES)
    assert set(implicit["paths"]["/x"]) == {"get"}
    declared = route("/y", get_op(head=("headY", "its headers")), methods=("GET", "HEAD"))
    explicit = openapi_document(app_with(declared), TYPES)["paths"]["/y"]
    assert explicit["head"]["operationId"] == "headY"
    assert explicit["head"]["summary"] == "its headers"
    assert explicit["get"]["responses"] == explicit["head"]["responses"]


def test_undocumented_routes_are_left_out_on_purpose():
    document = openapi_document(app_with(route("/x", undocumented)), TYPES)
    assert document["paths"] == {}


def test_path_parameters_come_from_the_rule():
    app = app_with(route("/api/assets/<asset_id>/versions/<int:number>", get_op()))
    document = openapi_document(app, TYPES)
    parameters = document["paths"]["/api/assets/{asset_id}/versions/{number}"]["get"]["parameters"]
    assert parameters[0] == {"$ref": "#/components/parameters/AssetId"}
    assert parameters[1]["name"] == "number" and parameters[1]["schema"]["type"] == "integer"
    assert parameters[2] == {"$ref": "#/components/parameters/CustomerId"}


def test_a_path_parameter_nobody_described_fails():
    with pytest.raises(UndeclaredRoute, match="path parameter thing"):
        openapi_document(app_with(route("/x/<thing>", get_op())), TYPES)


def test_a_path_parameter_of_the_wrong_type_fails():
    with pytest.raises(UndeclaredRoute, match="asset_id is described as string"):
        openapi_document(app_with(route("/x/<int:asset_id>", get_op())), TYPES)


def test_operation_ids_are_unique_and_tags_known():
    twice = app_with(route("/x", get_op("same")), route("/y", get_op("same")))
    with pytest.raises(UndeclaredRoute, match="used twice"):
        openapi_document(twice, TYPES)
    untagged = operation("Nowhere", "op", "a summary", responses=OK)
    with pytest.raises(UndeclaredRoute, match="no tag 'Nowhere'"):
        openapi_document(app_with(route("/x", untagged)), TYPES)


def test_a_declaration_names_only_described_problems_and_a_success():
    with pytest.raises(ValueError, match=r"no problem is described for \[418\]"):
        get_op(problems=[400, 418])
    with pytest.raises(ValueError, match="no successful answer"):
        operation("Operations", "op", "a summary", responses={302: Reply("elsewhere")})


def test_every_operation_can_answer_431_with_a_problem():
    document = openapi_document(app_with(route("/x", get_op(problems=[404]))), TYPES)
    responses = document["paths"]["/x"]["get"]["responses"]
    assert responses["404"] == {"$ref": "#/components/responses/NotFound"}
    assert responses["431"] == {"$ref": "#/components/responses/RequestHeaderFieldsTooLarge"}


# --- types → JSON Schema ---------------------------------------------------------------------


class Inner(TypedDict):
    """An inner thing."""

    size: Annotated[int, Meta(minimum=0, description="bytes")]


@closed
class Outer(TypedDict):
    inner: Inner | None
    label: NotRequired[Annotated[str, Meta(max_length=3)] | None]
    items: Annotated[list[Inner], Meta(max_items=2)]
    extra: dict[str, Any]


def test_typed_dicts_become_components_with_their_constraints():
    components = Components(TYPES)
    assert components.schema_of(Outer) == {"$ref": "#/components/schemas/Outer"}
    assert components.schemas["Inner"] == {
        "type": "object",
        "description": "An inner thing.",
        "required": ["size"],
        "properties": {"size": {"type": "integer", "minimum": 0, "description": "bytes"}},
    }
    assert components.schemas["Outer"] == {
        "type": "object",
        "additionalProperties": False,
        "required": ["inner", "items", "extra"],
        "properties": {
            "inner": {"anyOf": [{"$ref": "#/components/schemas/Inner"}, {"type": "null"}]},
            "label": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]},
            "items": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Inner"},
                "maxItems": 2,
            },
            "extra": {"type": "object"},
        },
    }


def test_two_schemas_under_one_name_fail():
    components = Components(TYPES)
    components.schema_of(Annotated[str, Named("Thing")])
    with pytest.raises(SchemaError, match="Thing"):
        components.schema_of(Annotated[int, Named("Thing")])


def test_a_type_without_json_schema_fails():
    with pytest.raises(SchemaError):
        Components(TYPES).schema_of(set[str])


def test_the_asset_types_are_those_of_the_running_service():
    components = Components(TYPES)
    components.schema_of(bodies.NewVersion)
    assert components.schemas["NewVersion"]["properties"]["type"]["enum"] == TYPES
    components.schema_of(records.Asset)
    described = components.schemas["Asset"]["properties"]["type"]["description"]
    assert described.endswith("one of: audio, image")


# --- the models match the routes -------------------------------------------------------------


def test_the_upload_model_has_the_fields_a_multipart_upload_takes():
    assert bodies.FORM_FIELDS == multipart_uploads.UPLOAD_FIELDS


async def test_an_asset_as_answered_has_the_fields_of_its_model(create_asset, client, auth):
    headers = auth()
    asset = await create_asset(headers=headers)
    assert set(asset) == set(records.Asset.__annotations__)
    assert set(asset["versions"][0]) <= set(records.AssetVersion.__annotations__)
    url = f"/api/assets/{asset['asset_id']}/versions"
    versions = (await client.get(url, headers=headers)).json()
    assert set(versions) == set(records.VersionList.__annotations__)
    assert set(versions["items"][0]) == set(records.VersionEntry.__annotations__)
