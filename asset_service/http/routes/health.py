"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from ..context import services
from ..responses import json_response

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> Response:
    """The process is up and serving (no backend is touched)."""
    return json_response({"status": "ok"})


@blueprint.get("/readyz")
async def readyz() -> Response:
    """Both backends answer within a few seconds."""
    engine = services().engine
    checks: dict[str, str] = {}
    with trio.move_on_after(5):
        checks["catalog"] = await _check(engine.catalog.get("00000000-0000-0000-0000-000000000000"))
        checks["blob_store"] = await _check(engine.store.stat("temp-uploads", "readyz-probe"))
    ready = checks.get("catalog") == "ok" and checks.get("blob_store") == "ok"
    return json_response(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )


async def _check(awaitable) -> str:  # type: ignore[no-untyped-def]
    try:
        await awaitable
    except Exception as error:
        return f"error: {error}"
    return "ok"
