"""The Quart-Trio app factory. The engine is started and owned outside Quart (its nursery
must outlive any request and must not depend on ``app.nursery``, which exists only while
serving) and handed in here."""

from __future__ import annotations

import time

from quart import request
from quart_trio import QuartTrio

from asset_service.config import ConfigError, Settings, check_link_window
from asset_service.engine import AssetEngine

from ._bounded_body import (
    BODY_DEADLINES,
    BodyDeadlines,
    BoundedASGIHTTPConnection,
    BoundedRequest,
    tune_hypercorn,
)
from .auth import TokenPolicy, policy_from_settings
from .context import Services
from .cors import install_cors
from .header_limit import HeaderLimit
from .host_header import HostHeaderGuard
from .lean_download import LEAN_KEY, LeanDownloads
from .metrics import ROUTE_KEY, UNMATCHED, HttpMetrics, MetricsMiddleware
from .openapi import OPENAPI_KEY, openapi_document
from .problems import register_error_handlers
from .routes import (
    assets,
    console,
    content,
    docs,
    events,
    graphql,
    health,
    library,
    metrics,
    previews,
    tus,
)
from .signing import Clock, LinkSigner

#: every route of the API, by blueprint
BLUEPRINTS = (
    health.blueprint,
    assets.blueprint,
    content.blueprint,
    library.blueprint,
    docs.blueprint,
    metrics.blueprint,
    tus.blueprint,
    events.blueprint,
    graphql.blueprint,
    previews.blueprint,
)


def token_policy(settings: Settings) -> TokenPolicy:
    """The checked token policy; ``ConfigError`` for a configuration that cannot work (an
    allowed algorithm without its key, an unreadable or ill-fitting public key)."""
    return policy_from_settings(settings)


def create_app(
    engine: AssetEngine,
    settings: Settings,
    *,
    clock: Clock = time.time,
    lean_downloads: bool = True,
) -> QuartTrio:
    """The app over a running ``engine``. ``clock``: what signed links are signed and checked
    against (tests pass their own, to step across link windows). ``lean_downloads``: answer
    the common downloads before Quart (``lean_download``); off, every one goes through the
    Quart route (the tests compare the two)."""
    tokens = token_policy(settings)
    if not settings.url_signing_secret:
        raise ConfigError("ASSET_JWT_SECRET or ASSET_URL_SIGNING_KEY must be set (download links)")
    check_link_window(settings.link_window)
    links = LinkSigner.from_secret(settings.url_signing_secret, settings.link_window, clock)
    if settings.accel_redirect_prefix:
        content.check_accel_redirect(settings.accel_redirect_prefix, engine)
    app = QuartTrio("asset_service")
    app.request_class = BoundedRequest
    app.asgi_http_class = BoundedASGIHTTPConnection
    tune_hypercorn()  # larger socket reads: the upload path's cost is per chunk
    # Upload size is enforced while streaming (413); Quart's own limit counts only buffered
    # bytes. Body deadlines are ours (idle and total, ``BodyDeadlines``); responses have none.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["BODY_TIMEOUT"] = None
    app.config["RESPONSE_TIMEOUT"] = None
    app.config[BODY_DEADLINES] = BodyDeadlines(
        idle=settings.upload_idle_timeout,
        floor=settings.body_deadline_floor,
        min_rate=settings.body_min_rate,
    )
    counters = HttpMetrics()
    counters.watch(engine)
    services = Services(engine, tokens, settings, links, counters)
    app.extensions["asset_service"] = services
    cors = install_cors(app, settings.cors_origins)
    if lean_downloads and not settings.accel_redirect_prefix:  # (hand-overs stay with Quart)
        # Innermost, so that the header limit, the Host guard and the metrics apply to it.
        lean = LeanDownloads(app.asgi_app, services, cors)
        app.extensions[LEAN_KEY] = lean
        app.asgi_app = lean  # type: ignore[method-assign]
    # (inside the metrics: a refused request is counted, as ``unmatched``)
    app.asgi_app = HeaderLimit(app.asgi_app)  # type: ignore[method-assign]
    app.asgi_app = HostHeaderGuard(app.asgi_app)  # type: ignore[method-assign]
    app.asgi_app = MetricsMiddleware(app.asgi_app, counters)  # type: ignore[method-assign]
    app.before_request(_note_route)
    register_error_handlers(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(console.blueprint)  # the web console: pages, not API operations
    # Built once, here: a route without its @operation stops the app from being created.
    app.extensions[OPENAPI_KEY] = openapi_document(app, sorted(engine.asset_types()))
    return app


async def _note_route() -> None:
    """Tell the metrics middleware which URL rule this request matched."""
    rule = request.url_rule
    request.scope[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED  # type: ignore[index]
