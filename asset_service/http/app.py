"""The Quart-Trio app factory. The engine is started and owned outside Quart (its nursery
must outlive any request and must not depend on ``app.nursery``, which exists only while
serving) and handed in here."""

from __future__ import annotations

from quart_trio import QuartTrio

from asset_service.config import Settings
from asset_service.engine import AssetEngine

from ._bounded_body import BoundedASGIHTTPConnection, BoundedRequest
from .auth import TokenPolicy
from .context import Services
from .problems import register_error_handlers
from .routes import assets, content, health, library


def token_policy(settings: Settings) -> TokenPolicy:
    return TokenPolicy(
        secret=settings.jwt_secret,
        algorithms=settings.jwt_algorithms,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway=settings.jwt_leeway,
    )


def create_app(engine: AssetEngine, settings: Settings) -> QuartTrio:
    if not settings.jwt_secret:
        raise ValueError("ASSET_JWT_SECRET must be set")
    app = QuartTrio("asset_service")
    app.request_class = BoundedRequest
    app.asgi_http_class = BoundedASGIHTTPConnection
    # Upload size is enforced while streaming (413); Quart's own limit counts only buffered
    # bytes. Body and response deadlines are per-chunk idle timeouts and none, respectively.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["BODY_TIMEOUT"] = None
    app.config["RESPONSE_TIMEOUT"] = None
    app.extensions["asset_service"] = Services(engine, token_policy(settings), settings)
    register_error_handlers(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(assets.blueprint)
    app.register_blueprint(content.blueprint)
    app.register_blueprint(library.blueprint)
    return app
