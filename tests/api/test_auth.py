"""Bearer JWTs, tenancy (another customer's asset is a 404, never a 403), visibility and roles
(docs/architecture.md, "Tenancy and roles")."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from tests.conftest import SECRET, data_files

from .conftest import UPLOAD, record_ids
from .helpers import TEXT_BYTES, assert_problem, file_part

ROUTES = ("get", "download", "head", "delete")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "alice",
        "customer_id": "acme",
        "roles": ["admin"],
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def unsigned_token(payload: dict[str, object], alg: str = "none") -> str:
    """``alg=none``, crafted by hand: header.payload. with an empty signature."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BAD_TOKENS = {
    "forged": lambda: jwt.encode(claims(), "not-the-secret-" * 4, algorithm="HS256"),
    "expired": lambda: jwt.encode(
        claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), SECRET, "HS256"
    ),
    "alg-none": lambda: unsigned_token(claims()),
    "alg-None": lambda: unsigned_token(claims(), alg="None"),
    "no-exp": lambda: jwt.encode(claims(exp=None), SECRET, algorithm="HS256"),
    "no-sub": lambda: jwt.encode(claims(sub=None), SECRET, algorithm="HS256"),
    "no-customer": lambda: jwt.encode(claims(customer_id=None), SECRET, algorithm="HS256"),
    "empty-customer": lambda: jwt.encode(claims(customer_id=""), SECRET, algorithm="HS256"),
    "roles-not-a-list": lambda: jwt.encode(claims(roles="admin"), SECRET, algorithm="HS256"),
    "hs512-not-allowed": lambda: jwt.encode(claims(), SECRET * 2, algorithm="HS512"),
    "not-yet-valid": lambda: jwt.encode(claims(nbf=int(time.time()) + 3600), SECRET, "HS256"),
    "garbage": lambda: "not.a.jwt",
    "signature-stripped": lambda: jwt.encode(claims(), SECRET, "HS256").rsplit(".", 1)[0] + ".",
}

BAD_HEADERS = {
    "basic": "Basic YWxpY2U6c2VjcmV0",
    "bearer-alone": "Bearer",
    "bearer-two-words": "Bearer abc def",
    "token-scheme": "Token abc",
    "no-scheme": "eyJhbGciOiJIUzI1NiJ9.e30.x",
    "empty": "",
}


@pytest.fixture
async def asset(create_asset):
    return await create_asset()


async def call(client, route: str, asset_id: str, headers: dict[str, str]):
    url = f"/api/assets/{asset_id}"
    match route:
        case "get":
            return await client.get(url, headers=headers)
        case "download":
            return await client.get(f"{url}/download", headers=headers)
        case "head":
            return await client.head(f"{url}/download", headers=headers)
        case "delete":
            return await client.delete(url, headers=headers)
    raise AssertionError(route)


def assert_unauthorized(response) -> None:
    if response.request.method == "HEAD":
        assert response.status_code == 401
    else:
        assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
async def test_missing_token(client, asset, route):
    assert_unauthorized(await call(client, route, asset["asset_id"], {}))


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_bad_token(client, asset, engine, kind):
    token = BAD_TOKENS[kind]()
    for route in ROUTES:
        assert_unauthorized(await call(client, route, asset["asset_id"], bearer(token)))
    assert await record_ids(engine) == {asset["asset_id"]}  # the delete did nothing


@pytest.mark.parametrize("kind", sorted(BAD_HEADERS))
async def test_malformed_authorization_header(client, asset, kind):
    headers = {"Authorization": BAD_HEADERS[kind]}
    for route in ROUTES:
        assert_unauthorized(await call(client, route, asset["asset_id"], headers))


async def test_alg_none_token_carries_valid_claims(client, asset, auth):
    """Control: the same claims, signed, are accepted — so the refusal is the algorithm's."""
    good = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert (await call(client, "get", asset["asset_id"], bearer(good))).status_code == 200
    bad = unsigned_token(claims())
    assert_unauthorized(await call(client, "get", asset["asset_id"], bearer(bad)))


@pytest.mark.parametrize("kind", ["missing", "forged", "alg-none"])
async def test_upload_needs_a_valid_token(client, leftovers, kind):
    headers = {} if kind == "missing" else bearer(BAD_TOKENS[kind]())
    response = await client.post(
        UPLOAD, headers=headers, files={"file": ("a.txt", TEXT_BYTES, "text/plain")}
    )
    assert_unauthorized(response)
    await leftovers.assert_clean()


async def test_bearer_scheme_is_case_insensitive(client, asset, make_token):
    headers = {"Authorization": f"bearer {make_token()}"}
    assert (await call(client, "get", asset["asset_id"], headers)).status_code == 200


# --- tenancy ------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [("editor",), ("admin",), ("viewer",)])
async def test_another_customers_asset_is_not_found(client, auth, asset, engine, roles):
    other = auth(user="mallory", customer="globex", roles=roles)
    for route in ("get", "download", "head"):
        response = await call(client, route, asset["asset_id"], other)
        assert response.status_code == 404, (route, response.text)
    # Invisible comes before forbidden: even a viewer's delete is a 404 here.
    assert_problem(await call(client, "delete", asset["asset_id"], other), 404)
    response = await client.get(
        f"/api/assets/{asset['asset_id']}", params={"include_deleted": "true"}, headers=other
    )
    assert_problem(response, 404)
    # still there for its owner
    assert (await call(client, "get", asset["asset_id"], auth())).status_code == 200
    assert await record_ids(engine) == {asset["asset_id"]}


async def test_not_found_answers_look_alike(client, auth, asset):
    """Another customer's asset and an id that does not exist get the same answer."""
    other = auth(user="mallory", customer="globex")
    theirs = await call(client, "get", asset["asset_id"], other)
    missing = await call(client, "get", "00000000-0000-4000-8000-000000000000", other)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


async def test_service_acts_for_the_customer_it_names(client, auth, asset):
    service = auth(user="billing", customer="internal", roles=("service",))
    acting = {**service, "X-Customer-Id": "acme"}
    assert (await call(client, "get", asset["asset_id"], acting)).status_code == 200
    elsewhere = {**service, "X-Customer-Id": "globex"}
    assert_problem(await call(client, "get", asset["asset_id"], elsewhere), 404)
    # X-Customer-Id means nothing to a non-service caller
    spoof = {**auth(user="mallory", customer="globex", roles=("admin",)), "X-Customer-Id": "acme"}
    assert_problem(await call(client, "get", asset["asset_id"], spoof), 404)


# --- visibility ---------------------------------------------------------------------------


async def test_private_asset(client, auth, create_asset):
    asset = await create_asset(visibility="private")
    asset_id = asset["asset_id"]
    bob = auth(user="bob", roles=("editor",))
    for route in ROUTES:
        response = await call(client, route, asset_id, bob)
        assert response.status_code == 404, (route, response.text)
    admin = auth(user="root", roles=("admin",))
    assert (await call(client, "get", asset_id, admin)).status_code == 200
    assert (await call(client, "download", asset_id, admin)).content == TEXT_BYTES
    owner = auth(user="alice")
    assert (await call(client, "get", asset_id, owner)).status_code == 200
    assert (await call(client, "delete", asset_id, owner)).status_code == 204


async def test_public_asset_downloads_without_a_token(client, auth, create_asset):
    asset = await create_asset(visibility="public")
    url = f"/api/assets/{asset['asset_id']}"
    response = await client.get(f"{url}/download")
    assert response.status_code == 200
    assert response.content == TEXT_BYTES
    # a bad token is still a 401, even where none is needed
    assert_unauthorized(await client.get(f"{url}/download", headers=bearer("not.a.jwt")))
    # metadata still needs a token
    assert_unauthorized(await client.get(url))
    # a customer-visible asset is not downloadable anonymously
    other = await create_asset()
    assert_unauthorized(await client.get(f"/api/assets/{other['asset_id']}/download"))


# --- roles --------------------------------------------------------------------------------


async def test_viewer_reads_but_does_not_write(client, auth, asset, engine, leftovers):
    await leftovers.snapshot()
    viewer = auth(user="vic", roles=("viewer",))
    assert (await call(client, "get", asset["asset_id"], viewer)).status_code == 200
    download = await call(client, "download", asset["asset_id"], viewer)
    assert download.status_code == 200
    assert download.content == TEXT_BYTES

    response = await client.post(
        UPLOAD, headers=viewer, files={"file": ("a.txt", TEXT_BYTES, "text/plain")}
    )
    assert_problem(response, 403)
    assert_problem(await call(client, "delete", asset["asset_id"], viewer), 403)
    await leftovers.assert_clean()
    assert await record_ids(engine) == {asset["asset_id"]}


async def test_no_role_reads_but_does_not_write(client, auth, asset, leftovers):
    await leftovers.snapshot()
    nobody = auth(user="nora", roles=())
    assert (await call(client, "get", asset["asset_id"], nobody)).status_code == 200
    response = await client.post(
        UPLOAD, headers=nobody, files={"file": ("a.txt", TEXT_BYTES, "text/plain")}
    )
    assert_problem(response, 403)
    await leftovers.assert_clean()


async def test_viewer_refused_before_the_body_is_stored(post_form, auth, leftovers):
    big = TEXT_BYTES * 3000  # ~ 3.5 MiB
    response = await post_form([file_part(big)], headers=auth(roles=("viewer",)))
    assert_problem(response, 403)
    await leftovers.assert_clean()


async def test_admin_purges(client, auth, asset, engine, settings):
    asset_url = f"/api/assets/{asset['asset_id']}"
    editor = auth()
    response = await client.delete(asset_url, params={"permanent": "true"}, headers=editor)
    assert_problem(response, 403)
    admin = auth(user="root", roles=("admin",))
    response = await client.delete(asset_url, params={"permanent": "true"}, headers=admin)
    assert response.status_code == 204
    assert await record_ids(engine) == set()
    assert not [f for f in data_files(settings) if asset["asset_id"] in f]
    response = await client.get(asset_url, params={"include_deleted": "true"}, headers=admin)
    assert_problem(response, 404)
