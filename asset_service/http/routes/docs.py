"""``/openapi.json`` (the API's OpenAPI 3.1 description) and ``/docs`` (a page rendering it that
needs nothing from the internet). Neither needs a token: they describe the API, not its data."""

from __future__ import annotations

import json

from quart import Blueprint, Response

from ..context import services
from ..docs_page import CONTENT_SECURITY_POLICY, PAGE
from ..openapi import openapi_document

blueprint = Blueprint("docs", __name__)


@blueprint.get("/openapi.json")
async def openapi_json() -> Response:
    document = openapi_document(sorted(services().engine.asset_types()))
    response = Response(json.dumps(document), status=200, content_type="application/json")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.get("/docs")
async def docs() -> Response:
    response = Response(PAGE, status=200, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
