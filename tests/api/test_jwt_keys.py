"""Public-key tokens: RS256 and ES256 verified with ``ASSET_JWT_PUBLIC_KEY`` (PEM text
or a file), next to HS256 with the secret; the allow-list, ``exp``, ``aud``/``iss``; the
key-confusion attack (an HS256 token whose "secret" is the public key) refused; and every
configuration that cannot work stopped at start."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from asset_service import cli
from asset_service.config import ConfigError, Settings
from asset_service.engine.model import Principal, Role
from asset_service.http import create_app
from asset_service.http.app import token_policy
from asset_service.http.auth import issue_token, load_public_key, verify_token
from tests.conftest import SECRET, start_server

from .helpers import assert_problem

# --- keys ----------------------------------------------------------------------------------


def new_key(kind: str) -> Any:
    if kind.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[kind]
    return ec.generate_private_key(curve)


def public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(private_key: Any) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "alice",
        "customer_id": "acme",
        "roles": ["editor"],
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_key(payload: dict[str, object], key: bytes, alg: str = "HS256") -> str:
    """An HMAC token made by hand (PyJWT refuses a PEM as an HMAC secret, an attacker does
    not): the key-confusion attack's token."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(key, f"{header}.{body}".encode(), digest).digest()
    return f"{header}.{body}.{b64url(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- a server that accepts HS256 and one public-key algorithm ------------------------------


@pytest.fixture(params=["RS256", "ES256"])
def algorithm(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def private_key(algorithm: str) -> Any:
    return new_key(algorithm)


@pytest.fixture
def settings(settings: Settings, algorithm: str, private_key: Any, tmp_path: Path) -> Settings:
    """The shared settings plus the public key: as PEM text for RS256, as a file for ES256
    (both ways of giving it are covered)."""
    pem = public_pem(private_key)
    if algorithm == "ES256":
        path = tmp_path / "jwt-public.pem"
        path.write_text(pem)
        pem = str(path)
    return replace(settings, jwt_algorithms=("HS256", algorithm), jwt_public_key=pem)


@pytest.fixture
async def asset(create_asset) -> dict[str, Any]:
    return await create_asset()  # made with an HS256 token from the shared fixtures


def signed(private_key: Any, algorithm: str, **overrides: object) -> str:
    return jwt.encode(claims(**overrides), private_key, algorithm=algorithm)


async def get_asset(client: httpx.AsyncClient, asset_id: str, token: str) -> httpx.Response:
    return await client.get(f"/api/assets/{asset_id}", headers=bearer(token))


async def test_a_public_key_token_is_accepted(client, asset, private_key, algorithm):
    token = signed(private_key, algorithm, roles=["viewer"])
    response = await get_asset(client, asset["asset_id"], token)
    assert response.status_code == 200, response.text
    # the claims mean the same as in an HS256 token: a viewer may not delete
    assert_problem(
        await client.delete(f"/api/assets/{asset['asset_id']}", headers=bearer(token)), 403
    )


async def test_hs256_still_works_next_to_it(client, asset, auth):
    assert (await client.get(f"/api/assets/{asset['asset_id']}", headers=auth())).status_code == 200


async def test_the_public_key_is_not_an_hmac_secret(client, asset, private_key, settings):
    """Key confusion: a token "signed" with HS256 using the public key — which anyone may
    have — as the secret. Every spelling of the key an attacker might try is refused."""
    pem = public_pem(private_key)
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for key in (pem.encode(), pem.strip().encode(), pem.replace("\n", "\r\n").encode(), der):
        for alg in ("HS256", "HS384", "HS512"):
            token = hs256_with_key(claims(roles=["admin"]), key, alg)
            response = await get_asset(client, asset["asset_id"], token)
            assert response.status_code == 401, (alg, response.text)
    # control: the same hand-made HS256 token with the real secret is accepted
    token = hs256_with_key(claims(), SECRET.encode())
    assert (await get_asset(client, asset["asset_id"], token)).status_code == 200


async def test_forged_expired_and_incomplete_public_key_tokens(
    client, asset, private_key, algorithm
):
    now = int(time.time())
    bad = {
        "another-key": signed(new_key(algorithm), algorithm),
        "expired": signed(private_key, algorithm, iat=now - 7200, exp=now - 3600),
        "no-exp": signed(private_key, algorithm, exp=None),
        "no-customer": signed(private_key, algorithm, customer_id=None),
        # the header claims another public-key algorithm than the one allowed
        "alg-not-allowed": (
            signed(new_key("RS256"), "RS384")
            if algorithm == "RS256"
            else signed(new_key("ES384"), "ES384")
        ),
        "signature-stripped": signed(private_key, algorithm).rsplit(".", 1)[0] + ".",
    }
    for kind, token in bad.items():
        response = await get_asset(client, asset["asset_id"], token)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), kind


async def test_public_key_only(client, asset, private_key, algorithm, engine, settings, nursery):
    """Only the public-key algorithm allowed: HS256 tokens are refused, even with the
    service's own secret, and the secret only signs download links."""
    only = replace(settings, jwt_algorithms=(algorithm,))
    base = await start_server(nursery, engine, only)
    async with httpx.AsyncClient(base_url=base) as strict:
        url = f"/api/assets/{asset['asset_id']}"
        assert (await strict.get(url, headers=bearer(signed(private_key, algorithm)))).is_success
        hs = jwt.encode(claims(), SECRET, algorithm="HS256")
        assert_problem(await strict.get(url, headers=bearer(hs)), 401)
        confused = hs256_with_key(claims(), public_pem(private_key).encode())
        assert_problem(await strict.get(url, headers=bearer(confused)), 401)
    with pytest.raises(ConfigError, match="HS"):
        issue_token(token_policy(only), user="u", customer="c", roles=["viewer"])


async def test_audience_and_issuer(
    client, asset, private_key, algorithm, engine, settings, nursery
):
    checked = replace(settings, jwt_audience="assets", jwt_issuer="https://id.example")
    base = await start_server(nursery, engine, checked)
    url = f"/api/assets/{asset['asset_id']}"
    good = {"aud": "assets", "iss": "https://id.example"}
    async with httpx.AsyncClient(base_url=base) as strict:
        response = await strict.get(url, headers=bearer(signed(private_key, algorithm, **good)))
        assert response.status_code == 200, response.text
        # a list audience holding ours is fine too (RFC 7519 §4.1.3)
        listed = signed(private_key, algorithm, **{**good, "aud": ["other", "assets"]})
        assert (await strict.get(url, headers=bearer(listed))).status_code == 200
        for wrong in (
            {"iss": "https://id.example"},
            {"aud": "assets"},
            {**good, "aud": "other"},
            {**good, "iss": "https://evil.example"},
        ):
            token = signed(private_key, algorithm, **wrong)
            assert_problem(await strict.get(url, headers=bearer(token)), 401)


# --- configuration errors, at start --------------------------------------------------------


def policy_for(tmp_path: Path, **changes: object) -> Any:
    return token_policy(Settings(data_dir=tmp_path, jwt_secret=SECRET, **changes))  # type: ignore[arg-type]


def test_public_key_as_text_file_certificate_or_escaped(tmp_path: Path):
    key = new_key("RS256")
    pem = public_pem(key)
    path = tmp_path / "key.pem"
    path.write_text(pem)
    escaped = pem.strip().replace("\n", "\\n")  # one line, as some env files need
    for value in (pem, str(path), escaped, f"  {pem}  "):
        loaded = load_public_key(value)
        assert loaded.public_numbers() == key.public_key().public_numbers()
    assert load_public_key("") is None
    policy = policy_for(tmp_path, jwt_algorithms=("rs256",), jwt_public_key=str(path))
    assert policy.algorithms == ("RS256",)  # spelled canonically
    token = jwt.encode(claims(), key, algorithm="RS256")
    assert verify_token(policy, token) == Principal("alice", "acme", frozenset({Role.EDITOR}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"jwt_algorithms": ("RS256",)}, "ASSET_JWT_PUBLIC_KEY must be set"),
        ({"jwt_algorithms": ("HS256", "ES256")}, "ASSET_JWT_PUBLIC_KEY must be set"),
        ({"jwt_algorithms": ("RS265",)}, "not supported"),
        ({"jwt_algorithms": ("EdDSA",)}, "not supported"),
        ({"jwt_algorithms": ()}, "empty"),
        ({"jwt_algorithms": ("RS256",), "jwt_public_key": "/nonexistent/key.pem"}, "cannot read"),
        ({"jwt_algorithms": ("RS256",), "jwt_public_key": "-----BEGIN nonsense"}, "not a PEM"),
        ({"jwt_public_key": "RSA"}, "is set but ASSET_JWT_ALGORITHMS allows no"),
        ({"jwt_algorithms": ("RS256",), "jwt_public_key": "EC-P256"}, "needs an RSA key"),
        ({"jwt_algorithms": ("ES256",), "jwt_public_key": "RSA"}, "needs an EC key"),
        ({"jwt_algorithms": ("ES384",), "jwt_public_key": "EC-P256"}, "secp384r1"),
        ({"jwt_algorithms": ("RS256", "ES256"), "jwt_public_key": "RSA"}, "needs an EC key"),
        ({"jwt_algorithms": ("RS256",), "jwt_public_key": "RSA-1024"}, "too weak"),
        ({"jwt_algorithms": ("RS256",), "jwt_public_key": "PRIVATE"}, "private key"),
        ({"jwt_secret": ""}, "ASSET_JWT_SECRET must be set"),
        ({"jwt_secret": "PEM"}, "PEM key"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused(tmp_path: Path, changes, message):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = {
        "RSA": public_pem(rsa_key),
        "RSA-1024": public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "EC-P256": public_pem(new_key("ES256")),
        "PRIVATE": private_pem(rsa_key),
        "PEM": public_pem(rsa_key),
    }
    changes = {k: keys.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET)
    settings = replace(settings, **changes)
    with pytest.raises(ConfigError, match=message):
        token_policy(settings)
    with pytest.raises(ConfigError, match=message):
        create_app(None, settings)  # type: ignore[arg-type]  # refused before the engine is used


def test_serve_refuses_rs256_without_a_key(capsys, monkeypatch, tmp_path: Path):
    for name in list(os.environ):
        if name.startswith("ASSET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ASSET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    monkeypatch.setenv("ASSET_JWT_ALGORITHMS", "RS256")
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "ASSET_JWT_PUBLIC_KEY" in err
    monkeypatch.setenv("ASSET_JWT_PUBLIC_KEY", str(tmp_path / "missing.pem"))
    assert cli.main(["serve"]) == 2
    assert "cannot read" in capsys.readouterr().err
    # the token command signs HS256 only
    key = tmp_path / "key.pem"
    key.write_text(public_pem(new_key("RS256")))
    monkeypatch.setenv("ASSET_JWT_PUBLIC_KEY", str(key))
    assert cli.main(["token", "--user", "u", "--customer", "c", "--role", "viewer"]) == 2
    assert "HS" in capsys.readouterr().err


async def test_no_secret_needed_with_public_keys_only(
    asset, private_key, algorithm, engine, settings, nursery, tmp_path: Path
):
    """Public-key tokens only, links signed with ASSET_URL_SIGNING_KEY: no JWT secret at all
    (``serve`` does not ask for one either)."""
    keyless = replace(
        settings, jwt_secret="", jwt_algorithms=(algorithm,), url_signing_key="link-key-" * 4
    )
    assert cli.with_secret(keyless, create=False) == keyless
    base = await start_server(nursery, engine, keyless)
    async with httpx.AsyncClient(base_url=base) as strict:
        token = bearer(signed(private_key, algorithm))
        link = await strict.get(f"/api/assets/{asset['asset_id']}/url", headers=token)
        assert link.status_code == 200, link.text
        download = await strict.get(link.json()["url"])
        assert download.status_code == 200
    with pytest.raises(ConfigError, match="ASSET_URL_SIGNING_KEY"):
        create_app(engine, replace(keyless, url_signing_key=""))
