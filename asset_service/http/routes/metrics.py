"""``/metrics`` for Prometheus. Open by default: it holds no customer's data (no ids, no
customers, routes as URL rules), like ``/healthz`` it is for whoever can reach the listening
address. With ``ASSET_METRICS_TOKEN`` set it needs ``Authorization: Bearer <that token>``
(Prometheus: ``authorization: {credentials: …}`` in the scrape config) — not a JWT, so a
scraper needs no user identity and no customer."""

from __future__ import annotations

import hmac

from quart import Blueprint, Response, request

from ..context import services
from ..metrics import render
from ..problems import unauthorized
from ..schema import Auth, Reply, operation

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@operation(
    "Operations",
    "metrics",
    "Prometheus metrics",
    responses={
        200: Reply(
            "requests by route and status, upload and download bytes, actor queue depths, "
            "cleanup results",
            content={"text/plain": str},
        )
    },
    problems=[401],
    description="Open unless `ASSET_METRICS_TOKEN` is set; then it needs "
    "`Authorization: Bearer <that token>` (not a JWT).",
    auth=Auth.METRICS_TOKEN,
)
async def metrics() -> Response:
    svc = services()
    expected = svc.settings.metrics_token
    if expected:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise unauthorized("/metrics needs 'Authorization: Bearer <ASSET_METRICS_TOKEN>'")
    body, content_type = render(svc.metrics, request.headers.get("Accept"))
    response = Response(body, status=200, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
