"""The permission matrix (docs/architecture.md, issue 3): every route by every kind of caller
gives the documented status, and nothing of another customer ever leaks.

Callers: a ``viewer``, an ``editor`` and an ``admin`` of customer acme; a ``service`` acting for
acme (``X-Customer-Id: acme``) and one that names no customer (400); an ``admin`` and a
``service`` of customer globex; and no token at all. The assets acme's callers address belong to
another acme user (``owen``), so ownership never explains an answer.

Rules: ``viewer`` reads; ``editor`` also uploads, edits, creates folders, moves, soft-deletes;
``admin`` (and ``service``, which acts with full rights for the customer it names) also
restores, purges, sees the trash. A forbidden action on a visible asset is 403; an invisible
asset (another customer's, another user's private one, one in the trash for a non-admin) is 404
— the same answer, byte for byte, as for an id that does not exist. Every answer is checked:
no id, tag, folder, category or name of the other customer anywhere in its body or headers; a
``customer_id`` in a body is always the caller's; and a refused request (or any read) changes
nothing, while an allowed write changes only the caller's customer.
"""

from __future__ import annotations

import io
import json
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from asset_service.engine import AssetEngine
from asset_service.engine.catalog import AssetQuery
from asset_service.http import create_app
from tests.conftest import data_files
from tests.preview_waits import previews_idle

from .helpers import PROBLEM_JSON, TEXT_BYTES

# Policy, not storage: the matrix is the same on every blob store, so it runs on one.
pytestmark = pytest.mark.file_store_only

# --- callers ---------------------------------------------------------------------------------

#: the matrix's columns, in the order of the expectation strings below
PERSONAS = (
    "viewer",
    "editor",
    "admin",
    "service",
    "service-no-customer",
    "other",
    "other-service",
    "anonymous",
)
ACME_PERSONAS = {"viewer", "editor", "admin", "service"}
GLOBEX_PERSONAS = {"other", "other-service"}


def persona_headers(auth: Callable[..., dict[str, str]]) -> dict[str, dict[str, str]]:
    service = auth(user="billing-svc", customer="internal", roles=("service",))
    return {
        "viewer": auth(user="vic", customer="acme", roles=("viewer",)),
        "editor": auth(user="eddie", customer="acme", roles=("editor",)),
        "admin": auth(user="ada", customer="acme", roles=("admin",)),
        "service": {**service, "X-Customer-Id": "acme"},
        "service-no-customer": service,
        "other": auth(user="oscar", customer="globex", roles=("admin",)),
        "other-service": {**service, "X-Customer-Id": "globex"},
        "anonymous": {},
    }


def customer_of(persona: str) -> str | None:
    if persona in ACME_PERSONAS:
        return "acme"
    if persona in GLOBEX_PERSONAS:
        return "globex"
    return None


# --- the assets ------------------------------------------------------------------------------


def wav_bytes(seconds: float = 0.25, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x10\x00" * int(seconds * rate))
    return buffer.getvalue()


WAV = wav_bytes()
#: words that only ever appear in one customer's assets
MARKERS = {
    customer: [
        f"{customer}-tag",
        f"/{customer}-folder",
        f"{customer}-category",
        f"{customer}-secret",
    ]
    for customer in ("acme", "globex")
}


@dataclass(frozen=True)
class World:
    """One customer-visible document, one audio asset and one trashed document per customer,
    and a resumable upload each has begun (no bytes yet)."""

    doc: str
    song: str
    trashed: str
    gdoc: str
    gsong: str
    gtrashed: str
    upload: str = ""
    gupload: str = ""

    def phantom(self) -> World:
        """The same world with acme's ids replaced by ids that exist nowhere."""
        return replace(
            self,
            **{f: str(uuid.uuid4()) for f in ("doc", "song", "trashed")},
            upload=uuid.uuid4().hex,
        )

    def ids_of(self, customer: str) -> list[str]:
        names = ("doc", "song", "trashed") if customer == "acme" else ("gdoc", "gsong", "gtrashed")
        return [getattr(self, name) for name in names]


class Worlds:
    """Builds worlds over HTTP and remembers every id each customer ever had."""

    def __init__(self, client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
        self.client = client
        self.auth = auth
        self.ids: dict[str, set[str]] = {"acme": set(), "globex": set()}

    async def upload(self, customer: str, content: bytes, filename: str, **form: str) -> str:
        owner = self.auth(user="owen" if customer == "acme" else "gina", customer=customer)
        response = await self.client.post(
            "/api/assets/upload",
            headers=owner,
            files={"file": (filename, content, "application/octet-stream")},
            data={
                "tags": f"{customer}-tag",
                "category": f"{customer}-category",
                "title": f"{customer}-secret title",
                **form,
            },
        )
        assert response.status_code == 201, response.text
        asset_id = response.json()["asset_id"]
        self.ids[customer].add(asset_id)
        return asset_id

    async def build(self) -> World:
        made: dict[str, str] = {}
        for customer, prefix in (("acme", ""), ("globex", "g")):
            folder = f"/{customer}-folder"
            made[f"{prefix}doc"] = await self.upload(
                customer, TEXT_BYTES, f"{customer}-secret.txt", folder=folder
            )
            made[f"{prefix}song"] = await self.upload(
                customer, WAV, f"{customer}-secret.wav", folder=f"{folder}/audio"
            )
            trashed = await self.upload(customer, TEXT_BYTES, f"{customer}-secret-old.txt")
            owner = self.auth(user="owen" if customer == "acme" else "gina", customer=customer)
            response = await self.client.delete(f"/api/assets/{trashed}", headers=owner)
            assert response.status_code == 204
            made[f"{prefix}trashed"] = trashed
            response = await self.client.post(
                "/api/uploads/",
                headers={**owner, **TUS, "Upload-Length": str(len(TEXT_BYTES))},
            )
            assert response.status_code == 201, response.text
            upload_id = response.headers["Location"].rsplit("/", 1)[1]
            self.ids[customer].add(upload_id)
            made[f"{prefix}upload"] = upload_id
        return World(**made)


# --- the routes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    params: dict[str, str] | None = None
    json: Any = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    #: the URL rule, for the coverage check
    rule: str
    #: statuses, one per persona in ``PERSONAS`` order
    expected: str
    build: Callable[[World], Call]
    #: an allowed call changes the caller customer's state
    writes: bool = False
    #: the call addresses one of acme's assets: a 401/404 must look like one for a missing id
    addresses_an_asset: bool = True

    def expect(self) -> dict[str, int]:
        codes = [int(code) for code in self.expected.split()]
        assert len(codes) == len(PERSONAS), self.name
        return dict(zip(PERSONAS, codes, strict=True))


TEXT_FILE = {"file": ("new.txt", TEXT_BYTES, "text/plain")}
TUS = {"Tus-Resumable": "1.0.0"}
TUS_BYTES = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
WAV_FILE = {"file": ("new.wav", WAV, "audio/wav")}
A = "/api/assets/<asset_id>"

#                                     viewer editor admin service svc-no-cust other other-svc anon
ROUTES = [
    Route("upload", "POST", "/api/assets/upload",
          "403 201 201 201 400 201 201 401",
          lambda w: Call("POST", "/api/assets/upload", files=TEXT_FILE),
          writes=True, addresses_an_asset=False),
    Route("search", "GET", "/api/assets/search",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/assets/search", params={"q": "secret"}),
          addresses_an_asset=False),
    Route("search the trash", "GET", "/api/assets/search",
          "403 403 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/assets/search", params={"include_deleted": "true"}),
          addresses_an_asset=False),
    Route("get", "GET", A,
          "200 200 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.doc}")),
    Route("get from the trash", "GET", A,
          "404 404 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.trashed}", params={"include_deleted": "true"})),
    Route("edit", "PUT", A,
          "403 200 200 200 400 404 404 401",
          lambda w: Call("PUT", f"/api/assets/{w.doc}", json={"title": "edited"}),
          writes=True),
    Route("soft delete", "DELETE", A,
          "403 204 204 204 400 404 404 401",
          lambda w: Call("DELETE", f"/api/assets/{w.doc}"),
          writes=True),
    Route("purge", "DELETE", A,
          "403 403 204 204 400 404 404 401",
          lambda w: Call("DELETE", f"/api/assets/{w.doc}", params={"permanent": "true"}),
          writes=True),
    Route("purge from the trash", "DELETE", A,
          "404 404 204 204 400 404 404 401",
          lambda w: Call("DELETE", f"/api/assets/{w.trashed}", params={"permanent": "true"}),
          writes=True),
    Route("restore from the trash", "POST", f"{A}/restore",
          "404 404 200 200 400 404 404 401",
          lambda w: Call("POST", f"/api/assets/{w.trashed}/restore"),
          writes=True),
    Route("restore a live asset", "POST", f"{A}/restore",
          "403 403 200 200 400 404 404 401",
          lambda w: Call("POST", f"/api/assets/{w.doc}/restore"),
          writes=True),
    Route("list versions", "GET", f"{A}/versions",
          "200 200 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.doc}/versions")),
    Route("add a version", "POST", f"{A}/versions",
          "403 201 201 201 400 404 404 401",
          lambda w: Call("POST", f"/api/assets/{w.doc}/versions", files=TEXT_FILE),
          writes=True),
    Route("restore a version", "POST", f"{A}/versions/<int:number>/restore",
          "403 201 201 201 400 404 404 401",
          lambda w: Call("POST", f"/api/assets/{w.doc}/versions/1/restore"),
          writes=True),
    Route("download", "GET", f"{A}/download",
          "200 200 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.doc}/download")),
    Route("download, HEAD", "HEAD", f"{A}/download",
          "200 200 200 200 400 404 404 401",
          lambda w: Call("HEAD", f"/api/assets/{w.doc}/download")),
    Route("download by redirect", "GET", f"{A}/download",
          "302 302 302 302 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.doc}/download", params={"redirect": "1"})),
    Route("signed link", "GET", f"{A}/url",
          "200 200 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.doc}/url")),
    Route("preview", "GET", f"{A}/previews/<kind>",
          "200 200 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.song}/previews/waveform")),
    Route("signed preview link", "GET", f"{A}/url",
          "200 200 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/assets/{w.song}/url", params={"preview": "waveform"})),
    Route("library list", "GET", "/api/library/<asset_type>",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/library/document"),
          addresses_an_asset=False),
    Route("create a folder", "POST", "/api/library/<asset_type>/folder",
          "403 201 201 201 400 201 201 401",
          lambda w: Call("POST", "/api/library/document/folder",
                         json={"path": f"/made/{w.doc[:8]}"}),
          writes=True, addresses_an_asset=False),
    Route("list folders", "GET", "/api/library/<asset_type>/folders",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/library/document/folders"),
          addresses_an_asset=False),
    Route("move", "PUT", "/api/library/<asset_type>/move",
          "403 200 200 200 400 404 404 401",
          lambda w: Call("PUT", "/api/library/document/move",
                         json={"asset_ids": [w.doc], "folder": "/moved"}),
          writes=True),
    Route("tags", "GET", "/api/library/<asset_type>/tags",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/library/document/tags"),
          addresses_an_asset=False),
    Route("categories", "GET", "/api/library/<asset_type>/categories",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/library/document/categories"),
          addresses_an_asset=False),
    Route("audio list", "GET", "/api/audio-library",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/audio-library"),
          addresses_an_asset=False),
    Route("audio save", "POST", "/api/audio-library",
          "403 201 201 201 400 201 201 401",
          lambda w: Call("POST", "/api/audio-library", files=WAV_FILE),
          writes=True, addresses_an_asset=False),
    Route("audio delete", "DELETE", "/api/audio-library/<asset_id>",
          "403 204 204 204 400 404 404 401",
          lambda w: Call("DELETE", f"/api/audio-library/{w.song}"),
          writes=True),
    Route("audio stats", "GET", "/api/audio-library/stats",
          "200 200 200 200 400 200 200 401",
          lambda w: Call("GET", "/api/audio-library/stats"),
          addresses_an_asset=False),
    # uploads: like a private asset, for their uploader (owen) and the customer's admins
    Route("start a resumable upload", "POST", "/api/uploads/",
          "403 201 201 201 400 201 201 401",
          lambda w: Call("POST", "/api/uploads/", headers={**TUS, "Upload-Length": "10"}),
          addresses_an_asset=False),
    Route("upload progress", "GET", "/api/uploads/<upload_id>",
          "404 404 200 200 400 404 404 401",
          lambda w: Call("GET", f"/api/uploads/{w.upload}")),
    Route("upload offset", "HEAD", "/api/uploads/<upload_id>",
          "404 404 200 200 400 404 404 401",
          lambda w: Call("HEAD", f"/api/uploads/{w.upload}", headers=TUS)),
    Route("upload bytes", "PATCH", "/api/uploads/<upload_id>",
          "404 404 204 204 400 404 404 401",
          lambda w: Call("PATCH", f"/api/uploads/{w.upload}", headers=TUS_BYTES,
                         content=TEXT_BYTES),
          writes=True),
    Route("upload bytes by method override", "POST", "/api/uploads/<upload_id>",
          "404 404 204 204 400 404 404 401",
          lambda w: Call("POST", f"/api/uploads/{w.upload}", content=TEXT_BYTES,
                         headers={**TUS_BYTES, "X-HTTP-Method-Override": "PATCH"}),
          writes=True),
    Route("terminate an upload", "DELETE", "/api/uploads/<upload_id>",
          "404 404 204 204 400 404 404 401",
          lambda w: Call("DELETE", f"/api/uploads/{w.upload}", headers=TUS),
          writes=True),
    # operations and docs: open to anyone who can reach the listening address
    *(
        Route(path, "GET", path, "200 200 200 200 200 200 200 200",
              lambda w, path=path: Call("GET", path), addresses_an_asset=False)
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")
    ),
]  # fmt: skip


# --- checks ----------------------------------------------------------------------------------


async def send(client: httpx.AsyncClient, call: Call, headers: dict[str, str]) -> httpx.Response:
    return await client.request(
        call.method,
        call.url,
        params=call.params,
        json=call.json,
        files=call.files,
        content=call.content,
        headers={**headers, **(call.headers or {})},
    )


def answer_text(response: httpx.Response) -> str:
    """Everything a caller learns from an answer: body and headers."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{headers}\n{response.text}"


def customer_ids_in(payload: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key == "customer_id" and isinstance(value, str):
                found.add(value)
            found |= customer_ids_in(value)
    elif isinstance(payload, list):
        for item in payload:
            found |= customer_ids_in(item)
    return found


def leaks(text: str, worlds: Worlds, persona: str, allowed: set[str]) -> list[str]:
    """What of a customer other than the caller's the text holds (``allowed``: what the
    request itself carried)."""
    mine = customer_of(persona)
    found = []
    for customer in ("acme", "globex"):
        if customer == mine:
            continue
        for secret in [*worlds.ids[customer], *MARKERS[customer]]:
            if secret in text and secret not in allowed:
                found.append(f"{customer}:{secret}")
    return found


async def state(engine: AssetEngine, settings: Any) -> dict[str, Any]:
    """What a request could change, per customer: records, folders, blobs."""
    snapshot: dict[str, Any] = {}
    await previews_idle(engine)  # previews of earlier uploads are written after them
    files = data_files(settings)
    for customer in ("acme", "globex"):
        page = await engine.catalog.list(AssetQuery(customer_id=customer, deleted=None, limit=1000))
        records = sorted(
            (
                a.asset_id,
                a.revision,
                a.deleted_at is None,
                a.current_version,
                a.metadata.folder,
                a.visibility,
            )
            for a in page.items
        )
        folders = {t: await engine.catalog.folders(customer, t) for t in ("document", "audio")}
        blobs = [f for f in files if f"/{customer}/" in f"/{f}"]
        snapshot[customer] = (records, folders, blobs)
    snapshot["temp"] = [f for f in files if f.startswith(("temp-uploads/", ".partial/"))]
    return snapshot


@dataclass
class Checker:
    client: httpx.AsyncClient
    engine: AssetEngine
    settings: Any
    worlds: Worlds
    headers: dict[str, dict[str, str]]
    failures: list[str]

    async def run(self, route: Route, world: World, persona: str) -> None:
        expected = route.expect()[persona]
        call = route.build(world)
        before = await state(self.engine, self.settings)
        response = await send(self.client, call, self.headers[persona])
        after = await state(self.engine, self.settings)
        where = f"{route.name} as {persona}"
        if response.status_code != expected:
            self.failures.append(
                f"{where}: {response.status_code}, expected {expected}: {response.text[:200]}"
            )
            return
        is_head = call.method == "HEAD"
        if expected >= 400 and not is_head and response.headers["content-type"] != PROBLEM_JSON:
            self.failures.append(f"{where}: not a problem document")
        allowed = (
            set(call.url.split("/"))
            | {json.dumps(call.json)}
            | set((call.json or {}).get("asset_ids", []) if isinstance(call.json, dict) else [])
        )
        leaked = leaks(answer_text(response), self.worlds, persona, allowed)
        if leaked:
            self.failures.append(f"{where}: leaks {leaked}")
        if not is_head and "json" in response.headers.get("content-type", ""):
            owners = customer_ids_in(response.json())
            if owners - {customer_of(persona)}:
                self.failures.append(f"{where}: shows records of {owners}")
        # nothing changes but the caller's own customer, and only by an allowed write
        mine = customer_of(persona)
        for customer in ("acme", "globex"):
            changed = before[customer] != after[customer]
            if changed and not (route.writes and expected < 400 and customer == mine):
                self.failures.append(f"{where}: changed {customer}'s assets")
        if before["temp"] != after["temp"] or after["temp"]:
            self.failures.append(f"{where}: left temporary files {after['temp']}")
        if route.addresses_an_asset and expected in (401, 404):
            await self.look_alike(route, world, persona, response)

    async def look_alike(
        self, route: Route, world: World, persona: str, response: httpx.Response
    ) -> None:
        """An invisible asset answers exactly like one that does not exist."""
        phantom = world.phantom()
        ghost = await send(self.client, route.build(phantom), self.headers[persona])
        text = ghost.text
        for name in ("doc", "song", "trashed"):
            text = text.replace(getattr(phantom, name), getattr(world, name))
        if (ghost.status_code, text) != (response.status_code, response.text):
            self.failures.append(
                f"{route.name} as {persona}: {response.status_code} {response.text[:120]} "
                f"but for a missing id {ghost.status_code} {ghost.text[:120]}"
            )


@pytest.fixture
def checker(client, engine, settings, auth) -> Checker:
    return Checker(client, engine, settings, Worlds(client, auth), persona_headers(auth), [])


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.name}" for r in ROUTES])
async def test_permission_matrix(checker: Checker, route: Route):
    world = await checker.worlds.build()
    for persona in PERSONAS:
        if route.writes:
            world = await checker.worlds.build()  # a fresh world for every write
        await checker.run(route, world, persona)
    assert not checker.failures, "\n".join(checker.failures)


async def test_the_matrix_covers_every_api_route(engine, settings):
    """A new /api route must join the matrix (HEAD and OPTIONS come with GET)."""
    app = create_app(engine, settings)
    covered = {(route.method, route.rule) for route in ROUTES}
    missing = []
    for rule in app.url_map.iter_rules():
        # (WebSocket /api/events has its tenancy tests in test_events_ws.py)
        if not rule.rule.startswith("/api/") or rule.websocket:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) not in covered:
                missing.append(f"{method} {rule.rule}")
    assert not missing, missing


# --- visibility ----------------------------------------------------------------------------


async def test_private_assets_are_for_their_owner_and_admins(client, auth, checker: Checker):
    """A private asset: its owner and the customer's admins (and services) see and change
    it; every other user of the customer gets a 404 for it, even for a write they would
    otherwise be refused with 403, and finds no trace of it in lists, tags, stats or counts."""
    worlds = checker.worlds
    await worlds.build()
    callers = {
        "owner": auth(user="owen", customer="acme", roles=("editor",)),
        "editor": auth(user="eddie", customer="acme", roles=("editor",)),
        "viewer": auth(user="vic", customer="acme", roles=("viewer",)),
        "admin": auth(user="ada", customer="acme", roles=("admin",)),
        "service": checker.headers["service"],
        "other": checker.headers["other"],
        "anonymous": {},
    }
    sees = {"owner", "admin", "service"}

    async def private_song() -> str:
        return await worlds.upload(
            "acme", WAV, "owen-private.wav", visibility="private", folder="/owen-private",
            tags="private-tag",
        )  # fmt: skip

    reads = {
        "get": lambda i: Call("GET", f"/api/assets/{i}"),
        "download": lambda i: Call("GET", f"/api/assets/{i}/download"),
        "head": lambda i: Call("HEAD", f"/api/assets/{i}/download"),
        "versions": lambda i: Call("GET", f"/api/assets/{i}/versions"),
        "link": lambda i: Call("GET", f"/api/assets/{i}/url"),
    }
    writes = {
        "edit": (lambda i: Call("PUT", f"/api/assets/{i}", json={"title": "x"}), 200),
        "new version": (lambda i: Call("POST", f"/api/assets/{i}/versions", files=WAV_FILE), 201),
        "move": (
            lambda i: Call(
                "PUT", "/api/library/audio/move", json={"asset_ids": [i], "folder": "/elsewhere"}
            ),
            200,
        ),
        "delete": (lambda i: Call("DELETE", f"/api/assets/{i}"), 204),
        "audio delete": (lambda i: Call("DELETE", f"/api/audio-library/{i}"), 204),
    }
    failures = []
    song = await private_song()
    for who, headers in callers.items():
        for name, build in reads.items():
            status = (await send(client, build(song), headers)).status_code
            want = 200 if who in sees else 401 if who == "anonymous" else 404
            if status != want:
                failures.append(f"{name} as {who}: {status}, expected {want}")
        for name, (build, allowed) in writes.items():
            target = await private_song()
            response = await send(client, build(target), headers)
            want = allowed if who in sees else 401 if who == "anonymous" else 404
            if response.status_code != want:
                failures.append(f"{name} as {who}: {response.status_code}, expected {want}")
            if who not in sees:  # and it looks like a missing id
                missing = str(uuid.uuid4())
                ghost = await send(client, build(missing), headers)
                if (ghost.status_code, ghost.text.replace(missing, target)) != (
                    response.status_code,
                    response.text,
                ):
                    failures.append(f"{name} as {who}: distinguishable from a missing id")

    # lists, search, tags, stats and folder counts
    admin_stats = (await client.get("/api/audio-library/stats", headers=callers["admin"])).json()
    private_count = admin_stats["by_folder"]["/owen-private"]["count"]
    assert private_count > 0
    for who in ("owner", "editor", "viewer", "admin", "service"):
        headers = callers[who]
        visible = who in sees
        for url, params in (
            ("/api/audio-library", {}),
            ("/api/library/audio", {}),
            ("/api/assets/search", {"q": "owen"}),
            ("/api/assets/search", {"tags": "private-tag"}),
        ):
            body = (await client.get(url, params=params, headers=headers)).json()
            ids = {item["asset_id"] for item in body["items"]}
            if (song in ids) != visible:
                failures.append(f"{url} {params} as {who}: private asset listed={song in ids}")
        tags = (await client.get("/api/library/audio/tags", headers=headers)).json()["items"]
        if any(t["name"] == "private-tag" for t in tags) != visible:
            failures.append(f"tags as {who}: {tags}")
        stats = (await client.get("/api/audio-library/stats", headers=headers)).json()
        in_stats = stats["by_folder"].get("/owen-private", {}).get("count", 0)
        if in_stats != (private_count if visible else 0):
            failures.append(f"stats as {who}: {stats['by_folder']}")
        folders = (await client.get("/api/library/audio/folders", headers=headers)).json()
        count = {f["path"]: f["count"] for f in folders["items"]}.get("/owen-private", 0)
        if count != (private_count if visible else 0):
            failures.append(f"folder count as {who}: {folders['items']}")
    assert not failures, "\n".join(failures)


async def test_public_assets_download_without_a_token(client, auth, checker: Checker):
    """A public asset's content is public: downloadable without a token, by any caller with
    a valid token, its current version (older ones: test_security_findings.py); its record,
    versions and links still need a token and tenancy. In the trash, it is public no more."""
    worlds = checker.worlds
    await worlds.build()
    public = await worlds.upload("acme", TEXT_BYTES, "acme-secret-public.txt", visibility="public")
    url = f"/api/assets/{public}"
    other = checker.headers["other"]
    anonymous: dict[str, str] = {}
    for headers in (anonymous, other, checker.headers["viewer"]):
        for params in ({}, {"version": "1"}, {"inline": "1"}):
            response = await client.get(f"{url}/download", params=params, headers=headers)
            assert response.status_code == 200, (headers, params, response.text)
            assert response.content == TEXT_BYTES
        assert (await client.head(f"{url}/download", headers=headers)).status_code == 200
        missing = await client.get(f"{url}/download", params={"version": "7"}, headers=headers)
        assert missing.status_code == (401 if headers is anonymous else 404)
    # everything but the content keeps its rules
    for path, params in (
        (url, {}),
        (f"{url}/versions", {}),
        (f"{url}/url", {}),
        (f"{url}/download", {"redirect": "1"}),
    ):
        assert (await client.get(path, params=params)).status_code == 401, path
        response = await client.get(path, params=params, headers=other)
        assert response.status_code == 404, path
        assert public not in answer_text(response) or public in path
    assert (await client.put(url, json={"title": "x"})).status_code == 401
    assert (await client.put(url, json={"title": "x"}, headers=other)).status_code == 404
    assert (await client.delete(url, headers=other)).status_code == 404
    search = await client.get("/api/assets/search", params={"q": "public"}, headers=other)
    assert search.status_code == 200 and search.json()["items"] == []
    # a bad token is a 401 even where none is needed
    bad = {"Authorization": "Bearer not.a.jwt"}
    assert (await client.get(f"{url}/download", headers=bad)).status_code == 401
    # in the trash: no longer public
    owner = auth(user="owen", customer="acme")
    assert (await client.delete(url, headers=owner)).status_code == 204
    assert (await client.get(f"{url}/download")).status_code == 401
    assert (await client.get(f"{url}/download", headers=other)).status_code == 404
