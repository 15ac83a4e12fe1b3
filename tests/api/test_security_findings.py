"""Regression tests for the penetration test's security findings (issue 13): old versions of a
public asset, customer ids, token lifetimes, cursors, links and the Host header, folders of
other users' private uploads, and what a signed link is bound to."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from asset_service.config import ConfigError, load_settings
from tests.conftest import SECRET, start_server

from .helpers import PROBLEM_JSON, TEXT_BYTES

pytestmark = pytest.mark.file_store_only

NEW_TEXT = b"the second version of the text\n" * 8


async def upload(client: httpx.AsyncClient, headers: dict[str, str], **form: str) -> str:
    response = await client.post(
        "/api/assets/upload",
        headers=headers,
        files={"file": ("notes.txt", TEXT_BYTES, "text/plain")},
        data=form,
    )
    assert response.status_code == 201, response.text
    return response.json()["asset_id"]


async def new_version(client: httpx.AsyncClient, headers: dict[str, str], asset_id: str) -> None:
    response = await client.post(
        f"/api/assets/{asset_id}/versions",
        headers=headers,
        files={"file": ("notes.txt", NEW_TEXT, "text/plain")},
    )
    assert response.status_code == 201, response.text


def assert_problem(response: httpx.Response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert fragment.lower() in f"{problem['title']}\n{problem['detail']}".lower(), problem


# --- 1. only the current version of a public asset is public --------------------------------


async def test_only_the_current_version_of_a_public_asset_is_public(client, auth):
    owner = auth(user="owen", customer="acme")
    asset_id = await upload(client, owner, visibility="public")
    await new_version(client, owner, asset_id)
    url = f"/api/assets/{asset_id}/download"
    other = auth(user="oscar", customer="globex", roles=("admin",))
    for headers in ({}, other):
        current = await client.get(url, headers=headers)
        assert current.status_code == 200 and current.content == NEW_TEXT
        named = await client.get(url, params={"version": "2"}, headers=headers)
        assert named.status_code == 200 and named.content == NEW_TEXT
    # an older version needs the usual authorisation
    assert_problem(await client.get(url, params={"version": "1"}), 401, "Bearer")
    assert (await client.head(url, params={"version": "1"})).status_code == 401
    assert_problem(await client.get(url, params={"version": "1"}, headers=other), 404)
    colleague = auth(user="vic", customer="acme", roles=("viewer",))
    old = await client.get(url, params={"version": "1"}, headers=colleague)
    assert old.status_code == 200 and old.content == TEXT_BYTES


# --- 6. customer ids have a restricted syntax ------------------------------------------------

BAD_CUSTOMER_IDS = ["A/evil", "..", ".", "a\\b", "a\x00b", "c" * 65, "A\n", " ", "", "-a", "a b"]


@pytest.mark.parametrize("customer", BAD_CUSTOMER_IDS, ids=repr)
async def test_a_token_with_a_bad_customer_id_is_a_401(client, leftovers, customer):
    token = jwt.encode(
        {"sub": "alice", "customer_id": customer, "roles": ["admin"], "exp": int(time.time()) + 60},
        SECRET,
        algorithm="HS256",
    )
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.post(
        "/api/assets/upload", headers=headers, files={"file": ("a.txt", TEXT_BYTES, "text/plain")}
    )
    assert_problem(response, 401, "customer_id")
    assert_problem(await client.get("/api/library/document/folders", headers=headers), 401)
    await leftovers.assert_clean()


@pytest.mark.parametrize("customer", BAD_CUSTOMER_IDS, ids=repr)
async def test_a_service_naming_a_bad_customer_id_is_a_400(client, auth, leftovers, customer):
    service = auth(user="billing-svc", customer="internal", roles=("service",))
    # (what a header can carry: h11 refuses NUL and newlines, and strips the spaces around)
    sendable = customer.replace("\x00", "%00").replace("\n", "%0A").replace(" ", "a%20", 1)
    headers = {**service, "X-Customer-Id": sendable}
    response = await client.post(
        "/api/assets/upload", headers=headers, files={"file": ("a.txt", TEXT_BYTES, "text/plain")}
    )
    assert_problem(response, 400, "X-Customer-Id")
    await leftovers.assert_clean()


async def test_good_customer_ids_are_accepted(client, auth):
    for customer in ("acme", "A", "tenant-42", "org.example_2", "x" * 64):
        headers = auth(customer=customer)
        response = await client.get("/api/library/document/folders", headers=headers)
        assert response.status_code == 200, (customer, response.text)


# --- 9. a token's exp: an integer within the maximum lifetime ------------------------------


@pytest.mark.parametrize(
    "exp",
    [str(int(time.time()) + 600), 1e308, int(time.time()) + 8 * 86400, True, time.time() + 600.5],
    ids=["string", "1e308", "8-days", "bool", "float"],
)
async def test_a_token_exp_must_be_an_integer_within_the_maximum_lifetime(client, exp):
    claims = {"sub": "alice", "customer_id": "acme", "roles": ["editor"], "exp": exp}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    response = await client.get(
        "/api/library/document/folders", headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 401, "exp")


async def test_a_token_within_the_maximum_lifetime_is_accepted(client):
    claims = {"sub": "alice", "customer_id": "acme", "exp": int(time.time()) + 6 * 86400}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    response = await client.get(
        "/api/library/document/folders", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text


# --- 8. cursors are signed, and a forged one is a 400 --------------------------------------


def raw_cursor(value: object) -> str:
    """A cursor in the unsigned shape the catalog adapters issue (base64 of a JSON array)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED_CURSORS = {
    "size-10e30": ("size", raw_cursor(["size", 10**30, "x"])),
    "nested-3000": ("size", raw_cursor("[" * 3000 + "]" * 3000)),
    "duration-nan": ("duration", raw_cursor('["duration", NaN, "x"]')),
    "name-object": ("name", raw_cursor(["name", {"$gt": ""}, "x"])),
    "plain-shape": ("created_at", raw_cursor(["created_at", "2020-01-01", "x"])),
    "garbage": ("name", "%%%not-base64%%%"),
    "huge": ("name", "A" * 60_000 + ".AAAA"),
}


@pytest.mark.parametrize("name", FORGED_CURSORS)
async def test_a_forged_cursor_is_a_400(client, auth, name):
    sort, cursor = FORGED_CURSORS[name]
    for path in ("/api/assets/search", "/api/library/document", "/api/audio-library"):
        response = await client.get(path, params={"sort": sort, "cursor": cursor}, headers=auth())
        assert_problem(response, 400, "cursor")


async def test_cursors_are_signed_and_still_page(client, auth):
    headers = auth()
    for _ in range(3):
        await upload(client, headers)
    params = {"sort": "size", "limit": "2"}
    first = await client.get("/api/assets/search", params=params, headers=headers)
    cursor = first.json()["next_cursor"]
    assert cursor
    second = await client.get(
        "/api/assets/search", params={**params, "cursor": cursor}, headers=headers
    )
    assert second.status_code == 200 and len(second.json()["items"]) == 1
    seen = {i["asset_id"] for i in first.json()["items"] + second.json()["items"]}
    assert len(seen) == 3
    # altered by one character, or used with another sort: a 400
    altered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    response = await client.get(
        "/api/assets/search", params={**params, "cursor": altered}, headers=headers
    )
    assert_problem(response, 400, "cursor")
    response = await client.get(
        "/api/assets/search", params={"sort": "name", "cursor": cursor}, headers=headers
    )
    assert_problem(response, 400, "cursor")


# --- 5. links never carry the request's Host ------------------------------------------------

EVIL_HOSTS = ["evil.example", "evil.example:8443", "127.0.0.1:1@evil.example", "x" * 200, "a..b"]


async def test_links_are_relative_without_a_public_url_whatever_the_host(client, auth):
    headers = auth()
    asset_id = await upload(client, headers)
    for host in EVIL_HOSTS:
        sent = {**headers, "Host": host}
        link = await client.get(f"/api/assets/{asset_id}/url", headers=sent)
        assert link.status_code == 200, link.text
        url = link.json()["url"]
        assert url.startswith(f"/api/assets/{asset_id}/download?"), url
        assert "evil" not in link.text and host not in link.text
        redirect = await client.get(
            f"/api/assets/{asset_id}/download", params={"redirect": "1"}, headers=sent
        )
        assert redirect.status_code == 302
        assert redirect.headers["Location"].startswith(f"/api/assets/{asset_id}/download?")
        assert host not in str(redirect.headers)
        # and the relative link works
        downloaded = await client.get(redirect.headers["Location"])
        assert downloaded.status_code == 200 and downloaded.content == TEXT_BYTES
    tus = await client.post(
        "/api/uploads/",
        headers={**headers, "Host": "evil.example", "Tus-Resumable": "1.0.0", "Upload-Length": "5"},
    )
    assert tus.status_code == 201 and tus.headers["Location"].startswith("/api/uploads/")


async def test_links_use_the_configured_public_url(engine, settings, nursery, auth):
    public = replace(settings, public_url="https://assets.example.com/base/")
    base_url = await start_server(nursery, engine, public)
    async with httpx.AsyncClient(base_url=base_url) as client:
        await check_public_url_links(client, auth)


async def check_public_url_links(client: httpx.AsyncClient, auth) -> None:
    headers = {**auth(), "Host": "evil.example"}
    asset_id = await upload(client, auth())
    link = (await client.get(f"/api/assets/{asset_id}/url", headers=headers)).json()["url"]
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("https", "assets.example.com")
    assert parts.path == f"/base/api/assets/{asset_id}/download"
    redirect = await client.get(
        f"/api/assets/{asset_id}/download", params={"redirect": "1"}, headers=headers
    )
    assert urlsplit(redirect.headers["Location"]).netloc == "assets.example.com"
    # the signature holds for the path the service serves
    downloaded = await client.get(f"/api/assets/{asset_id}/download?{parts.query}")
    assert downloaded.status_code == 200 and downloaded.content == TEXT_BYTES


@pytest.mark.parametrize(
    "value", ["assets.example.com", "javascript:alert(1)", "https://a@b.example", "https://x/?q=1"]
)
def test_a_public_url_that_is_not_a_base_url_is_refused_at_start(value):
    with pytest.raises(ConfigError, match="ASSET_PUBLIC_URL"):
        load_settings({"ASSET_PUBLIC_URL": value})


# --- 9. what a signed link is bound to; folders of other users' private uploads -----------


async def test_a_signed_link_survives_a_change_of_visibility(client, auth):
    owner = auth(user="owen")
    asset_id = await upload(client, owner, visibility="public")
    link = (await client.get(f"/api/assets/{asset_id}/url", headers=owner)).json()["url"]
    for visibility in ("private", "customer", "public"):
        changed = await client.put(
            f"/api/assets/{asset_id}", json={"visibility": visibility}, headers=owner
        )
        assert changed.status_code == 200, changed.text
        response = await client.get(link)
        assert response.status_code == 200 and response.content == TEXT_BYTES, visibility


async def test_a_delete_ends_a_signed_link_for_good_even_after_a_restore(client, auth):
    owner, admin = auth(user="owen"), auth(user="ada", roles=("admin",))
    asset_id = await upload(client, owner)
    old_link = (await client.get(f"/api/assets/{asset_id}/url", headers=owner)).json()["url"]
    assert (await client.get(old_link)).status_code == 200
    assert (await client.delete(f"/api/assets/{asset_id}", headers=owner)).status_code == 204
    assert (await client.get(old_link)).status_code == 404
    restored = await client.post(f"/api/assets/{asset_id}/restore", headers=admin)
    assert restored.status_code == 200, restored.text
    assert_problem(await client.get(old_link), 403, "revoked")
    # a link signed after the restore works
    new_link = (await client.get(f"/api/assets/{asset_id}/url", headers=owner)).json()["url"]
    response = await client.get(new_link)
    assert response.status_code == 200 and response.content == TEXT_BYTES
    # and the epoch in a link is signed like the rest
    tampered = new_link.replace("epoch=1", "epoch=0")
    assert tampered != new_link
    assert_problem(await client.get(tampered), 403, "signature")


async def test_folders_list_only_what_the_caller_can_see(client, auth):
    owen, colleague = auth(user="owen"), auth(user="vic", roles=("viewer",))
    admin = auth(user="ada", roles=("admin",))
    await upload(client, owen, folder="/owen/secret-project", visibility="private")
    await upload(client, owen, folder="/shared")
    made = await client.post(
        "/api/library/document/folder", json={"path": "/empty-made-by-hand"}, headers=owen
    )
    assert made.status_code == 201

    async def paths(headers: dict[str, str]) -> set[str]:
        response = await client.get("/api/library/document/folders", headers=headers)
        assert response.status_code == 200
        return {f["path"] for f in response.json()["items"]}

    seen = await paths(colleague)
    assert "/owen/secret-project" not in seen and "/owen" not in seen
    assert {"/shared", "/empty-made-by-hand"} <= seen
    for headers in (owen, admin):
        assert {"/owen/secret-project", "/shared", "/empty-made-by-hand"} <= await paths(headers)


# --- the same rules through GraphQL ----------------------------------------------------------


async def graphql(client: httpx.AsyncClient, headers: dict[str, str], query: str, **variables):
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_graphql_links_and_cursors_follow_the_same_rules(client, auth):
    headers = auth()
    asset_id = await upload(client, headers)
    await upload(client, headers)
    signed = await graphql(
        client,
        {**headers, "Host": "evil.example"},
        "mutation($id: ID!) { signLink(id: $id) { url } }",
        id=asset_id,
    )
    url = signed["data"]["signLink"]["url"]
    assert url.startswith(f"/api/assets/{asset_id}/download?"), url
    # a page's cursor is signed; a forged one is refused
    search = 'query($c: String) { search(limit: 1, sort: "size", cursor: $c) { nextCursor } }'
    first = await graphql(client, headers, search)
    cursor = first["data"]["search"]["nextCursor"]
    assert (await graphql(client, headers, search, c=cursor))["data"]["search"] is not None
    forged = await graphql(client, headers, search, c=raw_cursor(["size", 10**30, "x"]))
    assert [e["extensions"]["code"] for e in forged["errors"]] == ["BAD_USER_INPUT"]
    assert "cursor" in forged["errors"][0]["message"]
