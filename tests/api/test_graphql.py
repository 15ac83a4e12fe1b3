"""``/graphql`` against a real server: every query and mutation, the tenancy and role matrix,
the limits, the hostile inputs of the REST suite that apply, and ``docs/schema.graphql``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from graphql import get_introspection_query

from asset_service.http.gql import limits
from asset_service.http.routes.graphql import schema_sdl
from tests.media import wav_bytes

from .helpers import PNG_BYTES, TEXT_BYTES

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_TYPES = ["audio", "document", "image", "video"]
OTHER = {"user": "mallory", "customer": "globex", "roles": ("admin",)}


class GraphQL:
    def __init__(self, client: httpx.AsyncClient, auth: Any) -> None:
        self.client = client
        self.auth = auth

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, **claims: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.auth(**claims),
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()


@pytest.fixture
def gql(client: httpx.AsyncClient, auth: Any) -> GraphQL:
    return GraphQL(client, auth)


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


ASSET_FIELDS = """assetId name type size mimeType checksum revision currentVersion visibility
  duration dimensions { width height } category createdAt deletedAt extracted
  metadata { title description tags folder custom }
  versions { version size checksum createdAt }"""


# --- queries -------------------------------------------------------------------------------


async def test_asset_has_the_rest_record_in_camel_case(gql, client, auth, create_asset):
    created = await create_asset(TEXT_BYTES, "notes.txt", tags="a,b", folder="/docs", title="T")
    answer = await gql.post(
        f"query($id: ID!) {{ asset(id: $id) {{ {ASSET_FIELDS} }} }}", {"id": created["asset_id"]}
    )
    assert "errors" not in answer
    asset = answer["data"]["asset"]
    rest = (await client.get(f"/api/assets/{created['asset_id']}", headers=auth())).json()
    assert asset["assetId"] == rest["asset_id"]
    assert asset["size"] == rest["size"] == len(TEXT_BYTES)
    assert asset["mimeType"] == rest["mime_type"]
    assert asset["metadata"] == {
        "title": "T",
        "description": None,
        "tags": ["a", "b"],
        "folder": "/docs",
        "custom": {},
    }
    assert asset["versions"] == [
        {
            "version": 1,
            "size": len(TEXT_BYTES),
            "checksum": rest["checksum"],
            "createdAt": rest["versions"][0]["created_at"],
        }
    ]
    assert asset["extracted"] == rest["extracted"]
    previews = await gql.post(
        "query($id: ID!) { asset(id: $id) { previews { kind status } } }",
        {"id": created["asset_id"]},
    )
    rest_kinds = [(p["kind"], p["status"]) for p in rest.get("previews", [])]
    got = previews["data"]["asset"]["previews"] or []
    assert [(p["kind"], p["status"]) for p in got] == rest_kinds


async def test_search_pages_with_the_rest_filters_and_cursors(gql, create_asset):
    for number in range(5):
        await create_asset(TEXT_BYTES + bytes([65 + number]), f"n{number}.txt", tags="paged")
    await create_asset(PNG_BYTES, "pic.png", tags="paged")
    query = """query($cursor: String) {
      search(tags: ["paged"], type: "document", sort: "name", limit: 2, cursor: $cursor) {
        items { name type } nextCursor } }"""
    names, cursor = [], None
    for _ in range(5):
        answer = await gql.post(query, {"cursor": cursor})
        page = answer["data"]["search"]
        names += [item["name"] for item in page["items"]]
        assert {item["type"] for item in page["items"]} <= {"document"}
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert names == [f"n{number}.txt" for number in range(5)]
    # no argument is required, like the REST route
    everything = await gql.post("{ search { items { assetId } nextCursor } }")
    assert len(everything["data"]["search"]["items"]) == 6


async def test_library_folders_tags_categories_and_stats(gql, create_asset):
    audio_wav = wav_bytes()
    await create_asset(TEXT_BYTES, "a.txt", folder="/x/y", tags="red,blue", category="memo")
    await create_asset(audio_wav, "tone.wav", folder="/music", tags="red")
    answer = await gql.post(
        """{
          library(type: "document", folder: "/x", recursive: true) { items { name } }
          folders(type: "document") { path count }
          tags(type: "document") { name count }
          categories(type: "document") { name count }
          audioLibraryStats { count totalSize totalDuration
            byFormat { key value { count size duration } } byFolder { key value { count } } }
        }"""
    )
    assert "errors" not in answer, answer
    data = answer["data"]
    assert [item["name"] for item in data["library"]["items"]] == ["a.txt"]
    assert {folder["path"] for folder in data["folders"]} >= {"/x", "/x/y"}
    assert {(tag["name"], tag["count"]) for tag in data["tags"]} == {("red", 1), ("blue", 1)}
    assert data["categories"] == [{"name": "memo", "count": 1}]
    stats = data["audioLibraryStats"]
    assert stats["count"] == 1 and stats["totalSize"] == len(audio_wav)
    assert stats["totalDuration"] > 0
    assert stats["byFolder"] == [{"key": "/music", "value": {"count": 1}}]
    assert [entry["key"] for entry in stats["byFormat"]] == ["wav"]


async def test_uploads_shows_a_multipart_uploads_progress(gql, client, auth):
    response = await client.post(
        "/api/assets/upload",
        headers={**auth(), "X-Upload-Id": "gql-progress-1"},
        files={"file": ("notes.txt", TEXT_BYTES, "text/plain")},
    )
    assert response.status_code == 201
    answer = await gql.post('{ uploads(id: "gql-progress-1") { uploadId state assetId } }')
    assert answer["data"]["uploads"] == {
        "uploadId": "gql-progress-1",
        "state": "committed",
        "assetId": response.json()["asset_id"],
    }


# --- mutations -----------------------------------------------------------------------------


async def test_update_asset_with_the_revision_as_if_match(gql, create_asset):
    created = await create_asset()
    update = """mutation($id: ID!, $rev: Int, $changes: AssetChanges!) {
      updateAsset(id: $id, revision: $rev, changes: $changes) {
        revision name metadata { title tags custom } } }"""
    changes = {"title": "New", "tags": ["Q", "q"], "custom": {"k": 1}, "name": "renamed.txt"}
    answer = await gql.post(update, {"id": created["asset_id"], "rev": 1, "changes": changes})
    assert answer["data"]["updateAsset"] == {
        "revision": 2,
        "name": "renamed.txt",
        "metadata": {"title": "New", "tags": ["q"], "custom": {"k": 1}},
    }
    stale = await gql.post(update, {"id": created["asset_id"], "rev": 1, "changes": changes})
    assert codes(stale) == ["CONFLICT"] and stale["data"] is None
    unknown = await gql.post(update, {"id": created["asset_id"], "changes": {"title": "x" * 5000}})
    assert codes(unknown) == ["BAD_USER_INPUT"]


async def test_move_create_folder_delete_restore_and_restore_version(
    gql, client, auth, create_asset
):
    first, second = await create_asset(), await create_asset(TEXT_BYTES + b"2", "two.txt")
    made = await gql.post(
        'mutation { createFolder(type: "document", path: "/new/place") { path created } }'
    )
    assert made["data"]["createFolder"] == {"path": "/new/place", "created": True}
    moved = await gql.post(
        "mutation($ids: [ID!]!) "
        '{ moveAssets(type: "document", ids: $ids, folder: "/new/place") { moved } }',
        {"ids": [first["asset_id"], second["asset_id"]]},
    )
    assert moved["data"]["moveAssets"] == {"moved": 2}

    deleted = await gql.post(
        "mutation($id: ID!) { deleteAsset(id: $id) { deletedAt } }", {"id": first["asset_id"]}
    )
    assert deleted["data"]["deleteAsset"]["deletedAt"] is not None
    gone = await gql.post("query($id: ID!) { asset(id: $id) { name } }", {"id": first["asset_id"]})
    assert codes(gone) == ["NOT_FOUND"]
    restored = await gql.post(
        "mutation($id: ID!) { restoreAsset(id: $id) { deletedAt } }",
        {"id": first["asset_id"]},
        roles=("admin",),
    )
    assert restored["data"]["restoreAsset"] == {"deletedAt": None}

    response = await client.post(
        f"/api/assets/{second['asset_id']}/versions",
        headers=auth(),
        files={"file": ("v2.txt", TEXT_BYTES + b"v2", "text/plain")},
    )
    assert response.status_code == 201
    back = await gql.post(
        "mutation($id: ID!) { restoreVersion(id: $id, version: 1) { currentVersion size } }",
        {"id": second["asset_id"]},
    )
    assert back["data"]["restoreVersion"] == {"currentVersion": 3, "size": len(TEXT_BYTES) + 1}


async def test_sign_link_downloads_without_a_token(gql, client, create_asset):
    created = await create_asset()
    answer = await gql.post(
        "mutation($id: ID!) { signLink(id: $id, expires: 60) { url expiresAt } }",
        {"id": created["asset_id"]},
    )
    link = answer["data"]["signLink"]
    assert link["url"].startswith(("/", "http"))
    downloaded = await client.get(link["url"])
    assert downloaded.status_code == 200 and downloaded.content == TEXT_BYTES
    too_long = await gql.post(
        "mutation($id: ID!) { signLink(id: $id, expires: 99999999) { url } }",
        {"id": created["asset_id"]},
    )
    assert codes(too_long) == ["BAD_USER_INPUT"]


# --- tenancy and roles ---------------------------------------------------------------------

#: every root field: (document, who may — "viewer", "editor" or "admin" — and variables)
MATRIX: dict[str, tuple[str, str]] = {
    "asset": ("query($id: ID!) { asset(id: $id) { name } }", "viewer"),
    "search": ("{ search { items { assetId } } }", "viewer"),
    "library": ('{ library(type: "document") { items { assetId } } }', "viewer"),
    "folders": ('{ folders(type: "document") { path } }', "viewer"),
    "tags": ('{ tags(type: "document") { name } }', "viewer"),
    "categories": ('{ categories(type: "document") { name } }', "viewer"),
    "audioLibraryStats": ("{ audioLibraryStats { count } }", "viewer"),
    "uploads": ('{ uploads(id: "no-such-upload") { state } }', "viewer"),
    "updateAsset": (
        'mutation($id: ID!) { updateAsset(id: $id, changes: {title: "t"}) { revision } }',
        "editor",
    ),
    "moveAssets": (
        'mutation($id: ID!) { moveAssets(type: "document", ids: [$id], folder: "/m") { moved } }',
        "editor",
    ),
    "createFolder": (
        'mutation { createFolder(type: "document", path: "/made") { path } }',
        "editor",
    ),
    "deleteAsset": ("mutation($id: ID!) { deleteAsset(id: $id) { assetId } }", "editor"),
    "restoreAsset": ("mutation($id: ID!) { restoreAsset(id: $id) { assetId } }", "admin"),
    "restoreVersion": (
        "mutation($id: ID!) { restoreVersion(id: $id, version: 1) { assetId } }",
        "editor",
    ),
    "signLink": ("mutation($id: ID!) { signLink(id: $id) { url } }", "viewer"),
}
ROLES = ("viewer", "editor", "admin")


def test_the_matrix_covers_every_root_field():
    """A new query or mutation must join the matrix below."""
    from asset_service.http.routes.graphql import schema_for

    schema = schema_for(BUILTIN_TYPES)
    fields = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    assert fields == set(MATRIX)


@pytest.mark.parametrize("field", sorted(MATRIX))
async def test_another_customers_asset_is_not_found_and_roles_hold(gql, create_asset, field):
    document, least = MATRIX[field]
    asset_id = (await create_asset())["asset_id"]
    variables = {"id": asset_id} if "$id" in document else {}

    # Another customer, whatever its role: never anything of ours.
    foreign = await gql.post(document, variables, **OTHER)
    if "$id" in document:
        assert codes(foreign) == ["NOT_FOUND"], foreign
    else:
        text = json.dumps(foreign.get("data"))
        assert asset_id not in text

    for role in ROLES:
        if "$id" in document:  # a fresh asset each time: a delete or move changes it
            variables = {"id": (await create_asset())["asset_id"]}
        if field == "restoreAsset" and role == "admin":
            # the asset must be in the trash for a restore to succeed
            await gql.post("mutation($id: ID!) { deleteAsset(id: $id) { assetId } }", variables)
        answer = await gql.post(document, variables, roles=(role,))
        allowed = ROLES.index(role) >= ROLES.index(least)
        if allowed:
            assert "FORBIDDEN" not in codes(answer), (role, answer)
            if field != "uploads":
                assert not codes(answer), (role, answer)
        else:
            assert codes(answer) == ["FORBIDDEN"], (role, answer)
            assert answer["data"] is None


async def test_a_request_without_a_token_is_401(client):
    response = await client.post("/graphql", json={"query": "{ search { nextCursor } }"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


# --- limits --------------------------------------------------------------------------------


async def test_the_introspection_query_graphiql_sends_passes(gql):
    answer = await gql.post(get_introspection_query(descriptions=True))
    assert "errors" not in answer
    assert answer["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_depth_past_the_introspection_depth_is_refused(gql):
    def nested(levels: int) -> str:
        return (
            "query { __schema { types { ...T } } } fragment T on __Type { "
            + "ofType { " * levels
            + "name"
            + " }" * levels
            + " }"
        )

    # __schema, types and the fragment's own level: three above the chain of ofType
    allowed = await gql.post(nested(limits.MAX_DEPTH - 3))
    assert "errors" not in allowed, allowed
    answer = await gql.post(nested(limits.MAX_DEPTH - 2))
    assert codes(answer) == ["QUERY_LIMIT"]
    error = answer["errors"][0]
    assert error["extensions"] == {
        "code": "QUERY_LIMIT",
        "limit": "depth",
        "maximum": limits.MAX_DEPTH,
        "actual": limits.MAX_DEPTH + 1,
    }
    assert answer.get("data") is None


async def test_more_than_100_root_fields_or_aliases_is_refused(gql):
    fields = " ".join(f"a{n}: search {{ nextCursor }}" for n in range(101))
    answer = await gql.post("{ " + fields + " }")
    assert codes(answer) == ["QUERY_LIMIT"]
    assert answer["errors"][0]["extensions"]["limit"] == "root_fields"
    aliases = " ".join(f"n{n}: assetId" for n in range(101))
    answer = await gql.post("{ search(limit: 1) { items { " + aliases + " } } }")
    assert answer["errors"][0]["extensions"]["limit"] == "aliases"


async def test_the_cost_model_counts_page_sizes(gql):
    cheap = await gql.post("{ search(limit: 500) { items { assetId versions { version } } } }")
    assert "errors" not in cheap
    expensive = " ".join(
        f"s{n}: search(limit: 500) {{ items {{ assetId versions {{ version size }} }} }}"
        for n in range(6)
    )
    answer = await gql.post("{ " + expensive + " }")
    assert codes(answer) == ["QUERY_LIMIT"]
    error = answer["errors"][0]
    assert error["extensions"]["limit"] == "cost"
    assert error["extensions"]["actual"] > limits.MAX_COST
    over_page = await gql.post("{ search(limit: 501) { nextCursor } }")
    assert codes(over_page) == ["BAD_USER_INPUT"]


async def test_errors_carry_no_stack_trace(gql):
    answer = await gql.post('{ search(sort: "nonsense") { nextCursor } }')
    assert codes(answer) == ["BAD_USER_INPUT"]
    assert "Traceback" not in json.dumps(answer)
    assert set(answer["errors"][0]) <= {"message", "locations", "path", "extensions"}


# --- hostile input through variables ------------------------------------------------------

SEARCH_Q = "query($q: String) { search(q: $q) { nextCursor } }"
GET_ASSET = "query($id: ID!) { asset(id: $id) { name } }"
NEW_FOLDER = 'mutation($p: String!) { createFolder(type: "document", path: $p) { path } }'
MIN_SIZE = "query($n: Long) { search(minSize: $n) { nextCursor } }"
LIMIT = "query($n: Int) { search(limit: $n) { nextCursor } }"
CURSOR = "query($c: String) { search(cursor: $c) { nextCursor } }"
CUSTOM = "mutation($id: ID!, $c: JSON) { updateAsset(id: $id, changes: {custom: $c}) { revision } }"
SOME_ID = "00000000-0000-4000-8000-000000000000"
HOSTILE: list[tuple[str, str, dict[str, Any], str]] = [
    ("overlong q", SEARCH_Q, {"q": "w" * 10_000}, "BAD_USER_INPUT"),
    ("wrong type", SEARCH_Q, {"q": {"$ne": 1}}, "BAD_USER_INPUT"),
    ("not a uuid", GET_ASSET, {"id": "../../etc/passwd"}, "BAD_USER_INPUT"),
    ("nul in folder", NEW_FOLDER, {"p": "/a\u0000b"}, "BAD_USER_INPUT"),
    ("traversal folder", NEW_FOLDER, {"p": "/a/../b"}, "BAD_USER_INPUT"),
    ("huge integer", MIN_SIZE, {"n": 10**30}, "BAD_USER_INPUT"),
    ("float limit", LIMIT, {"n": 1.5}, "BAD_USER_INPUT"),
    ("forged cursor", CURSOR, {"c": "not-a-cursor"}, "BAD_USER_INPUT"),
    ("unknown type", '{ library(type: "nope") { nextCursor } }', {}, "NOT_FOUND"),
    ("custom not object", CUSTOM, {"id": SOME_ID, "c": [1, 2]}, "BAD_USER_INPUT"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[case[0] for case in HOSTILE])
async def test_hostile_variables_get_a_clear_error_and_change_nothing(gql, leftovers, case):
    await leftovers.snapshot()
    _, document, variables, code = case
    answer = await gql.post(document, variables)
    assert codes(answer)[:1] == [code], answer
    assert "Traceback" not in json.dumps(answer)
    await leftovers.assert_clean()


async def test_malformed_requests_are_400(client, auth):
    for body in (
        b"[]",
        b"{}",
        b'{"query": 5}',
        b'{"query": "{ search { nextCursor } }", "variables": 3}',
    ):
        response = await client.post(
            "/graphql", content=body, headers={**auth(), "Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["message"]
    response = await client.post(
        "/graphql", content=b"{ search }", headers={**auth(), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    big = "{ search { nextCursor } }" + " " * limits.MAX_QUERY_BYTES
    response = await client.post("/graphql", json={"query": big}, headers=auth())
    assert response.status_code == 400


async def test_graphql_response_json_refusals_are_400(client, auth):
    response = await client.post(
        "/graphql",
        json={"query": "{ nope }"},
        headers={**auth(), "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_get_runs_queries_but_never_mutations(client, auth, create_asset):
    created = await create_asset()
    response = await client.get(
        "/graphql",
        params={
            "query": "query($id: ID!) { asset(id: $id) { name } }",
            "variables": json.dumps({"id": created["asset_id"]}),
        },
        headers=auth(),
    )
    assert response.json() == {"data": {"asset": {"name": "notes.txt"}}}
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { createFolder(type: "document", path: "/g") { path } }'},
        headers=auth(),
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# --- the page and the printed schema -------------------------------------------------------


async def test_a_browser_gets_the_page_with_a_strict_csp(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in response.text  # no inline script
    for name in ("app.js", "style.css"):
        asset = await client.get(f"/graphql/static/{name}")
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/graphql/static/../../app.py")).status_code == 404


def test_docs_schema_graphql_matches_the_code():
    printed = (ROOT / "docs" / "schema.graphql").read_text()
    assert printed == schema_sdl(BUILTIN_TYPES), (
        "docs/schema.graphql is stale: python -m asset_service.http.routes.graphql > "
        "docs/schema.graphql"
    )


async def test_a_hundred_concurrent_mutations_all_complete_beside_uploads(client, auth, gql):
    """Resolver threads wait on the engine from a limiter of their own, so a burst of GraphQL
    requests never holds the thread slots the engine's uploads need (a liveness check: every
    mutation and upload completes)."""
    answers: list[dict[str, Any]] = []
    uploads: list[int] = []

    async def make_folder(number: int) -> None:
        answers.append(
            await gql.post(
                'mutation($p: String!) { createFolder(type: "document", path: $p) { path } }',
                {"p": f"/many/f{number}"},
            )
        )

    async def upload(number: int) -> None:
        response = await client.post(
            "/api/assets/upload",
            headers=auth(),
            files={"file": (f"n{number}.txt", TEXT_BYTES + bytes([65 + number]), "text/plain")},
        )
        uploads.append(response.status_code)

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for number in range(100):
                nursery.start_soon(make_folder, number)
            for number in range(4):
                nursery.start_soon(upload, number)
    assert uploads == [201] * 4
    assert sorted(a["data"]["createFolder"]["path"] for a in answers) == sorted(
        f"/many/f{number}" for number in range(100)
    )
