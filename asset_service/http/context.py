"""What the views need from the running app, in one place: the engine, the token policy,
the settings — hung on the app by the factory, never imported as globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from quart import current_app, request

from asset_service.config import Settings
from asset_service.engine import AssetEngine, Principal

from .auth import TokenPolicy, authenticate, require_principal
from .metrics import HttpMetrics
from .signing import LinkSigner


@dataclass(frozen=True, slots=True)
class Services:
    engine: AssetEngine
    tokens: TokenPolicy
    settings: Settings
    #: signs and checks the service's links (``signing.py``), on the app's clock
    links: LinkSigner
    metrics: HttpMetrics = field(default_factory=HttpMetrics)


def services() -> Services:
    return current_app.extensions["asset_service"]


def caller() -> Principal:
    """The authenticated caller; 401 without a valid token."""
    return require_principal(request, services().tokens)


def optional_caller() -> Principal | None:
    """The caller if a token was sent (a bad token is still a 401), else ``None``."""
    return authenticate(request, services().tokens)
