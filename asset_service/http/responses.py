"""Small response builders shared by the blueprints."""

from __future__ import annotations

import json
from typing import Any

from quart import Response


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None):
    response = Response(json.dumps(payload), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def no_content() -> Response:
    response = Response("", status=204)
    del response.headers["Content-Type"]
    return response
