"""``/openapi.json`` (the API's OpenAPI 3.1 description) and ``/docs`` (a page rendering it that
needs nothing from the internet). Neither needs a token: they describe the API, not its data."""

from __future__ import annotations

import json

from quart import Blueprint, Response, current_app

from ..docs_page import CONTENT_SECURITY_POLICY, PAGE
from ..openapi import OPENAPI_KEY
from ..schema import undocumented

blueprint = Blueprint("docs", __name__)


@blueprint.get("/openapi.json")
@undocumented
async def openapi_json() -> Response:
    document = current_app.extensions[OPENAPI_KEY]
    response = Response(json.dumps(document), status=200, content_type="application/json")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.get("/docs")
@undocumented
async def docs() -> Response:
    response = Response(PAGE, status=200, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
