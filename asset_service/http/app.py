"""The Quart-Trio app factory. The engine is started and owned outside Quart (its nursery
must outlive any request and must not depend on ``app.nursery``, which exists only while
serving) and handed in here."""

from __future__ import annotations

from quart import request
from quart_trio import QuartTrio

from asset_service.config import ConfigError, Settings
from asset_service.engine import AssetEngine

from ._bounded_body import BoundedASGIHTTPConnection, BoundedRequest, tune_hypercorn
from .auth import TokenPolicy, policy_from_settings
from .context import Services
from .cors import install_cors
from .header_limit import HeaderLimit
from .metrics import ROUTE_KEY, UNMATCHED, HttpMetrics, MetricsMiddleware
from .problems import register_error_handlers
from .routes import assets, content, docs, events, health, library, metrics, previews, uploads


def token_policy(settings: Settings) -> TokenPolicy:
    """The checked token policy; ``ConfigError`` for a configuration that cannot work (an
    allowed algorithm without its key, an unreadable or ill-fitting public key)."""
    return policy_from_settings(settings)


def create_app(engine: AssetEngine, settings: Settings) -> QuartTrio:
    tokens = token_policy(settings)
    if not settings.url_signing_secret:
        raise ConfigError("ASSET_JWT_SECRET or ASSET_URL_SIGNING_KEY must be set (download links)")
    if settings.accel_redirect_prefix:
        content.check_accel_redirect(settings.accel_redirect_prefix, engine)
    app = QuartTrio("asset_service")
    app.request_class = BoundedRequest
    app.asgi_http_class = BoundedASGIHTTPConnection
    tune_hypercorn()  # larger socket reads: the upload path's cost is per chunk
    # Upload size is enforced while streaming (413); Quart's own limit counts only buffered
    # bytes. Body and response deadlines are per-chunk idle timeouts and none, respectively.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["BODY_TIMEOUT"] = None
    app.config["RESPONSE_TIMEOUT"] = None
    counters = HttpMetrics()
    app.extensions["asset_service"] = Services(engine, tokens, settings, counters)
    # (inside the metrics: a refused request is counted, as ``unmatched``)
    app.asgi_app = HeaderLimit(app.asgi_app)  # type: ignore[method-assign]
    app.asgi_app = MetricsMiddleware(app.asgi_app, counters)  # type: ignore[method-assign]
    app.before_request(_note_route)
    register_error_handlers(app)
    install_cors(app, settings.cors_origins)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(assets.blueprint)
    app.register_blueprint(content.blueprint)
    app.register_blueprint(library.blueprint)
    app.register_blueprint(docs.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(uploads.blueprint)
    app.register_blueprint(events.blueprint)
    app.register_blueprint(previews.blueprint)
    return app


async def _note_route() -> None:
    """Tell the metrics middleware which URL rule this request matched."""
    rule = request.url_rule
    request.scope[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED  # type: ignore[index]
