"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from ..context import services
from ..responses import json_response
from ..schema import Auth, Reply, operation, records

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@operation(
    "Operations",
    "healthz",
    "Liveness: the process serves",
    responses={200: Reply("up", records.Health)},
    auth=Auth.NONE,
)
async def healthz() -> Response:
    """The process is up and serving (no backend is touched)."""
    return json_response({"status": "ok"})


#: how long each backend has to answer a readiness probe
READY_TIMEOUT = 5.0


@blueprint.get("/readyz")
@operation(
    "Operations",
    "readyz",
    "Readiness: each backend's state",
    responses={
        200: Reply("every backend answers", records.Readiness),
        503: Reply("a backend does not answer", records.Readiness),
    },
    auth=Auth.NONE,
)
async def readyz() -> Response:
    """Each backend answers within a few seconds. Both are asked at once, and each is
    reported — ``ok``, ``error: …`` or ``timeout`` — with the kind of adapter it is."""
    engine = services().engine
    probes = {
        "catalog": lambda: engine.catalog.get("00000000-0000-0000-0000-000000000000"),
        "blob_store": lambda: engine.store.stat("temp-uploads", "readyz-probe"),
    }
    checks: dict[str, str] = {}

    async def check(name: str) -> None:
        checks[name] = "timeout"
        with trio.move_on_after(READY_TIMEOUT):
            checks[name] = await _check(probes[name]())

    async with trio.open_nursery() as nursery:
        for name in probes:
            nursery.start_soon(check, name)
    ready = all(result == "ok" for result in checks.values())
    backends = {
        "catalog": type(engine.catalog).__name__,
        "blob_store": type(engine.store).__name__,
    }
    return json_response(
        {"status": "ready" if ready else "not ready", "checks": checks, "backends": backends},
        200 if ready else 503,
    )


async def _check(awaitable) -> str:  # type: ignore[no-untyped-def]
    try:
        await awaitable
    except Exception as error:
        return f"error: {error}"
    return "ok"
