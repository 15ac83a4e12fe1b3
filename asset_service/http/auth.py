"""Bearer-token authentication (DESIGN §7): JWTs signed with the shared secret, checked against
an algorithm allow-list (``none`` is never allowed), ``exp`` required, ``aud``/``iss`` checked
when configured. Claims: ``sub`` (user), ``customer_id``, ``roles`` (a list)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from quart import Request

from asset_service.engine.errors import InvalidInput
from asset_service.engine.model import Principal, Role

from .problems import unauthorized


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    secret: str
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str = ""
    issuer: str = ""
    leeway: float = 5.0


def issue_token(
    policy: TokenPolicy,
    *,
    user: str,
    customer: str,
    roles: list[str],
    ttl: float = 3600.0,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user,
        "customer_id": customer,
        "roles": roles,
        "iat": now,
        "exp": now + int(ttl),
    }
    if policy.audience:
        claims["aud"] = policy.audience
    if policy.issuer:
        claims["iss"] = policy.issuer
    return jwt.encode(claims, policy.secret, algorithm=policy.algorithms[0])


def verify_token(policy: TokenPolicy, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            policy.secret,
            algorithms=[alg for alg in policy.algorithms if alg.lower() != "none"],
            audience=policy.audience or None,
            issuer=policy.issuer or None,
            leeway=policy.leeway,
            options={
                "require": ["exp", "sub", "customer_id"],
                "verify_aud": bool(policy.audience),
            },
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("the token has expired") from None
    except jwt.InvalidTokenError as error:
        raise unauthorized(f"the token is not valid: {error}") from None
    user, customer, roles = claims["sub"], claims["customer_id"], claims.get("roles", [])
    if not isinstance(user, str) or not user or not isinstance(customer, str) or not customer:
        raise unauthorized("the token's sub and customer_id must be non-empty strings")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise unauthorized("the token's roles must be a list of strings")
    known = {role.value for role in Role}
    return Principal(user, customer, frozenset(Role(role) for role in roles if role in known))


def authenticate(request: Request, policy: TokenPolicy) -> Principal | None:
    """The caller, or ``None`` when no ``Authorization`` header was sent. A ``service``
    principal acts for the customer named in ``X-Customer-Id``."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected 'Authorization: Bearer <token>'")
    principal = verify_token(policy, token.strip())
    if principal.has(Role.SERVICE):
        on_behalf_of = (request.headers.get("X-Customer-Id") or "").strip()
        if not on_behalf_of:
            raise InvalidInput("a service token must name its customer in X-Customer-Id")
        principal = Principal(principal.user_id, on_behalf_of, principal.roles)
    return principal


def require_principal(request: Request, policy: TokenPolicy) -> Principal:
    principal = authenticate(request, policy)
    if principal is None:
        raise unauthorized("this needs 'Authorization: Bearer <token>'")
    return principal
