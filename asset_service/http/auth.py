"""Bearer-token authentication: JWTs signed with the shared secret (HS256/384/512)
or verified with a public key (RS*/PS* with an RSA key, ES* with an EC key on the algorithm's
curve), checked against an algorithm allow-list (``none`` is never allowed), ``exp`` required,
``aud``/``iss`` checked when configured. Claims: ``sub`` (user), ``customer_id``, ``roles``.

Key confusion is ruled out by construction: the token's ``alg`` picks the key *family* (an HMAC
algorithm is only ever verified with ``ASSET_JWT_SECRET``, an asymmetric one only with
``ASSET_JWT_PUBLIC_KEY``), never the other way round, so an HS256 token "signed" with the public
key as its secret fails like any other forgery. A configuration that cannot work (an algorithm
without its key, a key of the wrong type or curve, an unreadable key) is a ``ConfigError`` when
the policy is built, i.e. at start."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from quart import Request

from asset_service.config import ConfigError, Settings
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput
from asset_service.engine.model import Principal, Role

from .plain_request import HeaderLookup
from .problems import unauthorized

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
#: each ES algorithm is defined on one curve (RFC 7518 §3.4)
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
SUPPORTED_ALGORITHMS = (*HMAC_ALGORITHMS, *RSA_ALGORITHMS, *EC_CURVES)
MIN_RSA_BITS = 2048
CUSTOMER_ID_RULE = (
    "{name} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
)
#: verified tokens a process remembers (the most recently used)
VERIFIED_TOKENS = 1024


class VerifiedTokens:
    """The principals of tokens verified already, until their ``exp``. A client sends the same
    token with every request, and verifying it again (base64 and JSON, the signature — an RSA
    or EC one is dearer still — and the claims) was ~9 % of a 1 MiB range's time on the event
    loop (BENCHMARKS.md, "Every core"). Only tokens that passed every check are kept, so a
    flood of bad ones neither fills nor churns it; a verdict depends on the token, the policy
    (fixed for the process) and the time, and only ``exp`` can turn it with time."""

    def __init__(self, size: int = VERIFIED_TOKENS) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        # GraphQL resolves in worker threads
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[Principal, int] | None:
        with self._lock:
            found = self._entries.get(token)
            if found is not None:
                self._entries.move_to_end(token)
            return found

    def put(self, token: str, principal: Principal, expires: int) -> None:
        with self._lock:
            self._entries[token] = (principal, expires)
            self._entries.move_to_end(token)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    secret: str
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str = ""
    issuer: str = ""
    leeway: float = 5.0
    #: seconds a token's ``exp`` may lie in the future
    max_lifetime: float = 7 * 86400.0
    #: the key RS*/PS*/ES* tokens are verified with (``load_public_key``), or ``None``
    public_key: Any = None
    verified: VerifiedTokens = field(default_factory=VerifiedTokens, compare=False, repr=False)

    @property
    def signing_algorithm(self) -> str | None:
        """What ``issue_token`` signs with: the first HMAC algorithm allowed, if there is a
        secret (the service never holds a private key)."""
        hmac = [alg for alg in self.algorithms if alg in HMAC_ALGORITHMS]
        return hmac[0] if hmac and self.secret else None

    def key_for(self, algorithm: str) -> Any:
        """The one key a token with this ``alg`` may be verified with (``algorithm`` is in
        the allow-list already): the secret for HMAC, the public key for everything else."""
        return self.secret if algorithm in HMAC_ALGORITHMS else self.public_key


def load_public_key(value: str) -> Any:
    """``ASSET_JWT_PUBLIC_KEY``: PEM text (a public key or a certificate; ``\\n`` escapes are
    accepted where a variable cannot hold newlines) or the path of a PEM file. ``None`` when
    unset; ``ConfigError`` when unreadable or not an RSA or EC public key."""
    text = value.strip()
    if not text:
        return None
    if "-----BEGIN" in text:
        source = "the PEM text"
        data = (text if "\n" in text else text.replace("\\n", "\n")).encode()
    else:
        path = Path(text).expanduser()
        source = str(path)
        try:
            data = path.read_bytes()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigError(f"ASSET_JWT_PUBLIC_KEY: cannot read {path}: {reason}") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        hint = " (that is a private key: give its public key)" if b"PRIVATE KEY" in data else ""
        raise ConfigError(
            f"ASSET_JWT_PUBLIC_KEY: {source} is not a PEM public key or certificate{hint}"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ConfigError(
            "ASSET_JWT_PUBLIC_KEY: only RSA and EC (P-256/384/521) keys are supported"
        )
    return key


def _canonical_algorithms(names: tuple[str, ...]) -> tuple[str, ...]:
    by_upper = {name.upper(): name for name in SUPPORTED_ALGORITHMS}
    algorithms = []
    for name in names:
        canonical = by_upper.get(name.strip().upper())
        if canonical is None:
            raise ConfigError(
                f"ASSET_JWT_ALGORITHMS: {name!r} is not supported "
                f"(one or more of {', '.join(SUPPORTED_ALGORITHMS)})"
            )
        if canonical not in algorithms:
            algorithms.append(canonical)
    if not algorithms:
        raise ConfigError("ASSET_JWT_ALGORITHMS is empty: no token could ever be accepted")
    return tuple(algorithms)


def _check_key_fits(key: Any, asymmetric: list[str]) -> None:
    for algorithm in asymmetric:
        if algorithm in RSA_ALGORITHMS:
            if not isinstance(key, rsa.RSAPublicKey):
                raise ConfigError(
                    f"ASSET_JWT_ALGORITHMS allows {algorithm}, which needs an RSA key, "
                    "but ASSET_JWT_PUBLIC_KEY is an EC key"
                )
            if key.key_size < MIN_RSA_BITS:
                raise ConfigError(
                    f"ASSET_JWT_PUBLIC_KEY: an RSA key of {key.key_size} bits is too weak "
                    f"(at least {MIN_RSA_BITS})"
                )
        else:
            curve = EC_CURVES[algorithm]
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
                found = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else "RSA"
                raise ConfigError(
                    f"ASSET_JWT_ALGORITHMS allows {algorithm}, which needs an EC key on "
                    f"{curve}, but ASSET_JWT_PUBLIC_KEY is {found}"
                )


def policy_from_settings(settings: Settings) -> TokenPolicy:
    """The token policy the settings describe, checked: ``ConfigError`` if no token of some
    allowed algorithm could ever be verified, or if a key is set that nothing uses."""
    algorithms = _canonical_algorithms(settings.jwt_algorithms)
    hmac = [alg for alg in algorithms if alg in HMAC_ALGORITHMS]
    asymmetric = [alg for alg in algorithms if alg not in HMAC_ALGORITHMS]
    if hmac and not settings.jwt_secret:
        raise ConfigError(f"ASSET_JWT_ALGORITHMS allows {hmac[0]}, so ASSET_JWT_SECRET must be set")
    if hmac and "-----BEGIN" in settings.jwt_secret:
        raise ConfigError(
            "ASSET_JWT_SECRET holds a PEM key: a public key belongs in ASSET_JWT_PUBLIC_KEY "
            "(an HMAC secret anyone can read would let anyone sign tokens)"
        )
    public_key = load_public_key(settings.jwt_public_key)
    if asymmetric and public_key is None:
        raise ConfigError(
            f"ASSET_JWT_ALGORITHMS allows {asymmetric[0]}, so ASSET_JWT_PUBLIC_KEY must be set"
        )
    if public_key is not None and not asymmetric:
        raise ConfigError(
            "ASSET_JWT_PUBLIC_KEY is set but ASSET_JWT_ALGORITHMS allows no RS/PS/ES algorithm "
            "(add e.g. RS256 or ES256)"
        )
    if public_key is not None:
        _check_key_fits(public_key, asymmetric)
    return TokenPolicy(
        secret=settings.jwt_secret,
        algorithms=algorithms,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway=settings.jwt_leeway,
        max_lifetime=settings.jwt_max_lifetime,
        public_key=public_key,
    )


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
    algorithm = policy.signing_algorithm
    if algorithm is None:
        raise ConfigError(
            "tokens are signed with ASSET_JWT_SECRET, but ASSET_JWT_ALGORITHMS allows no HS "
            "algorithm (RS/ES tokens are signed by the issuer that holds the private key)"
        )
    return jwt.encode(claims, policy.secret, algorithm=algorithm)


def verify_token(policy: TokenPolicy, token: str) -> Principal:
    known = policy.verified.get(token)
    if known is not None:
        principal, expires = known
        # PyJWT's rule: expired once exp <= now - leeway
        if expires > time.time() - policy.leeway:
            return principal
        policy.verified.forget(token)
        raise unauthorized("the token has expired")
    principal, expires = _verify(policy, token)
    policy.verified.put(token, principal, expires)
    return principal


def _verify(policy: TokenPolicy, token: str) -> tuple[Principal, int]:
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        if not isinstance(algorithm, str) or algorithm not in policy.algorithms:
            raise jwt.InvalidAlgorithmError(f"the algorithm {algorithm!r} is not allowed")
        claims = jwt.decode(
            token,
            policy.key_for(algorithm),
            # one algorithm, the one its key is for ("none" is never in the allow-list)
            algorithms=[algorithm],
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
    except (jwt.PyJWTError, ValueError) as error:
        # PyJWTError, not only InvalidTokenError: a key or algorithm the token names that
        # can't be used (InvalidKeyError…) is the token's fault, not a 500.
        raise unauthorized(f"the token is not valid: {error}") from None
    expires = claims["exp"]
    # PyJWT takes any number (or a numeric string): "1e308" would be a token for ever
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise unauthorized("the token's exp must be an integer (seconds since the epoch)")
    if expires > time.time() + policy.max_lifetime + policy.leeway:
        raise unauthorized(
            f"the token's exp is more than {policy.max_lifetime:g} seconds away "
            "(ASSET_JWT_MAX_LIFETIME)"
        )
    user, customer, roles = claims["sub"], claims["customer_id"], claims.get("roles", [])
    if not isinstance(user, str) or not user or not isinstance(customer, str) or not customer:
        raise unauthorized("the token's sub and customer_id must be non-empty strings")
    if not field_rules.is_customer_id(customer):
        raise unauthorized(CUSTOMER_ID_RULE.format(name="the token's customer_id"))
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise unauthorized("the token's roles must be a list of strings")
    known = {role.value for role in Role}
    return Principal(
        user, customer, frozenset(Role(role) for role in roles if role in known)
    ), expires


def authenticate(request: Request, policy: TokenPolicy) -> Principal | None:
    """The caller, or ``None`` when no ``Authorization`` header was sent. A ``service``
    principal acts for the customer named in ``X-Customer-Id``."""
    return authenticate_headers(request.headers, policy)


def authenticate_headers(headers: HeaderLookup, policy: TokenPolicy) -> Principal | None:
    """``authenticate`` on a request's headers (any mapping with a case-insensitive ``get``:
    Quart's, or the lean download path's)."""
    header = headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected 'Authorization: Bearer <token>'")
    return principal_of(policy, token.strip(), headers.get("X-Customer-Id"))


def principal_of(policy: TokenPolicy, token: str, on_behalf_of: str | None) -> Principal:
    """The caller a token names; a ``service`` token acts for the customer ``on_behalf_of``
    names (``X-Customer-Id``)."""
    principal = verify_token(policy, token)
    if principal.has(Role.SERVICE):
        customer = (on_behalf_of or "").strip()
        if not customer:
            raise InvalidInput("a service token must name its customer in X-Customer-Id")
        if not field_rules.is_customer_id(customer):
            raise InvalidInput(CUSTOMER_ID_RULE.format(name="X-Customer-Id"))
        principal = Principal(principal.user_id, customer, principal.roles)
    return principal


def require_principal(request: Request, policy: TokenPolicy) -> Principal:
    principal = authenticate(request, policy)
    if principal is None:
        raise unauthorized("this needs 'Authorization: Bearer <token>'")
    return principal
