"""Builders for ``test_hostile_requests.py``: the case type, the world every case runs against,
hostile bodies and tokens, a raw-socket sender for what httpx won't send, the state a refused
request must leave as it found, and the lookup of a request in the app's URL map and in
``/openapi.json``."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import jwt
import trio
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from asset_service.engine.catalog import AssetQuery
from tests.conftest import SECRET, data_files
from tests.media import docx_with_member, image_bytes, svg, tiny_png
from tests.preview_waits import previews_idle

from .helpers import TEXT_BYTES, Part, file_part, multipart, multipart_type, signed_query

AUDIENCE = "asset-service-tests"
ISSUER = "https://issuer.test"
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}
CUSTOMERS = ("acme", "globex")
TYPES = ("document", "audio", "image", "video")

#: ``headers`` / ``body`` of a case: a value, or built from the world
Headers = dict[str, str] | Callable[["World"], dict[str, str]] | None
Body = bytes | Callable[["World"], bytes] | None
Check = Callable[[httpx.Response, "World"], Awaitable[None]]
NO_JSON = object()


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    method: str
    #: formatted with the world's ids: ``{doc}``, ``{public}``, ``{private}``, ``{gdoc}``,
    #: ``{upload}``, ``{gupload}``; ``{link}`` is the signed link's query string
    path: str
    status: int
    #: a fragment of the problem's ``title`` or ``detail`` (case-insensitive)
    expect: str | None = None
    headers: Headers = None
    body: Body = None
    json: Any = NO_JSON
    #: the persona whose token is sent (``anonymous``: none)
    who: str = "editor"
    #: sent as raw bytes over a socket (framing and header floods httpx would not send)
    raw: bool = False
    #: raw: bytes of the head sent before a pause (so the server reads it in two parts)
    split: int = 0
    #: more assertions on the answer
    check: Check | None = None


@dataclass
class World:
    """What the cases address: acme's ``doc`` (alice's), ``public`` and ``private`` (owen's)
    text assets, ``public2`` (alice's, public, two versions), globex's ``gdoc``, one resumable
    upload each (``upload``, ``gupload``), and a signed link to ``doc`` v1."""

    ids: dict[str, str]
    personas: dict[str, dict[str, str]]
    link_secret: str
    client: httpx.AsyncClient

    def path(self, template: str) -> str:
        return template.format(**self.ids)

    def auth(self, who: str) -> dict[str, str]:
        return dict(self.personas[who])

    def signed(self, version: int, expires: int, *, asset: str = "doc", sign_version=None) -> str:
        return signed_query(
            self.link_secret, self.ids[asset], version, expires, sign_version=sign_version
        )


def personas(make_token: Callable[..., str]) -> dict[str, dict[str, str]]:
    def bearer(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(**claims)}"}

    service = bearer(user="billing-svc", customer="internal", roles=("service",))
    return {
        "editor": bearer(user="alice", customer="acme", roles=("editor",)),
        "owen": bearer(user="owen", customer="acme", roles=("editor",)),
        "admin": bearer(user="ada", customer="acme", roles=("admin",)),
        "other": bearer(user="oscar", customer="globex", roles=("admin",)),
        "service-acme": {**service, "X-Customer-Id": "acme"},
        "service-globex": {**service, "X-Customer-Id": "globex"},
        "service-nobody": service,
        "anonymous": {},
    }


async def build_world(
    client: httpx.AsyncClient, make_token: Callable[..., str], settings: Settings
) -> World:
    people = personas(make_token)
    ids: dict[str, str] = {}

    async def upload(key: str, who: str, **form: str) -> None:
        response = await client.post(
            "/api/assets/upload",
            headers=people[who],
            files={"file": (f"{key}.txt", TEXT_BYTES, "text/plain")},
            data=form,
        )
        assert response.status_code == 201, response.text
        ids[key] = response.json()["asset_id"]

    await upload("doc", "editor", tags="doc", folder="/docs")
    await upload("public", "editor", visibility="public")
    await upload("private", "owen", visibility="private")
    # a public asset with two versions: only the current one (v2) is public
    await upload("public2", "editor", visibility="public")
    second = await client.post(
        f"/api/assets/{ids['public2']}/versions",
        headers=people["editor"],
        files={"file": ("public2.txt", TEXT_BYTES[::-1], "text/plain")},
    )
    assert second.status_code == 201, second.text
    await upload("gdoc", "other")
    for key, who in (("upload", "editor"), ("gupload", "other")):
        response = await client.post(
            "/api/uploads/",
            headers={**people[who], **TUS, "Upload-Length": str(len(TEXT_BYTES))},
        )
        assert response.status_code == 201, response.text
        ids[key] = response.headers["Location"].rsplit("/", 1)[1]
    ids["missing"] = str(uuid.uuid4())
    world = World(ids, people, settings.url_signing_secret, client)
    ids["link"] = world.signed(1, int(time.time()) + 600)
    return world


# --- bodies ----------------------------------------------------------------------------------


def form(*parts: Part, close: bool = True) -> dict[str, Any]:
    """``headers`` and ``body`` of a multipart case."""
    return {"headers": {"Content-Type": multipart_type()}, "body": multipart(parts, close=close)}


def text_file(filename: str = "notes.txt", content: bytes = TEXT_BYTES, ctype=None) -> Part:
    return file_part(content, filename, ctype)


def tus_metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_create(content: bytes, **meta: str) -> dict[str, Any]:
    """``headers`` and ``body`` of a tus creation-with-upload carrying the whole file."""
    headers = {
        **OFFSET_STREAM,
        "Upload-Length": str(len(content)),
        "Upload-Metadata": tus_metadata(**meta),
    }
    return {"headers": headers, "body": content}


def png_zip_polyglot() -> bytes:
    """A PNG with a ZIP archive (a JAR's shape: GIFAR's PNG cousin) appended after IEND."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        out.writestr("Evil.class", b"\xca\xfe\xba\xbe" + b"\x00" * 64)
    return tiny_png() + archive.getvalue()


def jpeg_with_html() -> bytes:
    """A real JPEG whose COM segment and trailer carry an HTML page with a script."""
    payload = b"<html><body><script>alert(document.domain)</script></body></html>"
    jpeg = image_bytes("JPEG", 16, 16)
    comment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + comment + jpeg[2:] + payload


def pdf_html_polyglot() -> bytes:
    return (
        b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n"
        b"1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def docx_with_html_part() -> bytes:
    """A DOCX that also carries an HTML file with a script (a polyglot by archive member)."""
    return docx_with_member("index.html", "<script>alert(1)</script>")


SVG_SCRIPT = svg("<script>alert(document.cookie)</script>")


# --- tokens ----------------------------------------------------------------------------------


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "alice",
        "customer_id": "acme",
        "roles": ["admin"],
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        # a day: cases are built when the module is collected, long before some run
        "exp": now + 86400,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def token(key: str = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=algorithm)


def unsigned(**overrides: Any) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(**overrides))}."


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# --- raw requests ----------------------------------------------------------------------------


async def send_raw(base_url: str, head: bytes, split: int = 0) -> httpx.Response:
    """Send bytes as they are (the first ``split`` bytes, a pause, the rest); the answer as an
    ``httpx.Response`` (status 0: the server closed the connection without answering)."""
    parts = urlsplit(base_url)
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    received = bytearray()
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError):
            # (it may stop reading: its answer is waiting all the same)
            if split:
                await stream.send_all(head[:split])
                await trio.sleep(0.2)
            await stream.send_all(head[split:])
        with trio.fail_after(10):
            try:
                while True:
                    chunk = await stream.receive_some()
                    if not chunk:
                        break
                    received += chunk
                    if _complete(received):
                        break
            except trio.BrokenResourceError:
                pass
    if not received:
        return httpx.Response(0)
    head_bytes, _, content = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines if ":" in line]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=content)


def _complete(data: bytearray) -> bool:
    head, found, body = bytes(data).partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def raw_head(method: str, target: str, base_url: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {urlsplit(base_url).netloc}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --- what a refused request must leave as it found -------------------------------------------


@dataclass
class State:
    files: list[str]
    outside: list[str]
    records: dict[str, dict[str, int]]
    folders: dict[str, list[str]]
    uploads: dict[str, str]
    in_flight: set[str] = field(default_factory=set)


async def snapshot(engine: AssetEngine, settings: Settings) -> State:
    """Blobs and partial files (or S3 objects and multipart uploads), files beside the data
    dir, every record (with its revision), folders, resumable upload sessions (with their
    state and offset), and multipart uploads in flight."""
    await previews_idle(engine)  # an accepted image's thumbnails are written after its 201
    records: dict[str, dict[str, int]] = {}
    folders: dict[str, list[str]] = {}
    for customer in CUSTOMERS:
        page = await engine.catalog.list(AssetQuery(customer_id=customer, deleted=None, limit=1000))
        records[customer] = {a.asset_id: a.revision for a in page.items}
        for asset_type in TYPES:
            found = await engine.catalog.folders(customer, asset_type)
            folders[f"{customer}/{asset_type}"] = sorted(f.path for f in found)
    sessions = await engine.catalog.expired_uploads(datetime(9999, 1, 1, tzinfo=UTC), 1000)
    root = settings.data_dir.parent
    outside = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and settings.data_dir not in p.parents
    )
    return State(
        files=data_files(settings),
        outside=outside,
        records=records,
        folders=folders,
        uploads={s.upload_id: f"{s.state.value}@{s.offset}" for s in sessions},
        in_flight=set(engine._uploads.in_flight()),
    )


def differences(before: State, after: State, created: set[str]) -> list[str]:
    """What changed between two snapshots, but for the assets ``created`` (accepted cases)."""
    found = []
    files = [f for f in after.files if not any(i in f for i in created)]
    if files != before.files:
        found.append(f"blobs: +{sorted(set(files) - set(before.files))}")
    if temp := [f for f in after.files if f.startswith(("temp-uploads/", ".partial/"))]:
        found.append(f"temporary files: {temp}")
    if after.outside != before.outside:
        found.append(f"files beside the data dir: {after.outside}")
    for customer, records in after.records.items():
        kept = {i: r for i, r in records.items() if i not in created}
        if kept != before.records[customer]:
            found.append(f"{customer}'s records: {before.records[customer]} -> {kept}")
    if after.folders != before.folders:
        found.append(f"folders: {before.folders} -> {after.folders}")
    # an accepted resumable upload keeps its committed session (its progress) until it expires
    uploads = {
        i: state
        for i, state in after.uploads.items()
        if not (created and i not in before.uploads and state.startswith("committed@"))
    }
    if uploads != before.uploads:
        found.append(f"upload sessions: {before.uploads} -> {after.uploads}")
    if after.in_flight:
        found.append(f"uploads in flight: {after.in_flight}")
    return found


# --- routes and the OpenAPI document ---------------------------------------------------------


def route_of(url_map: Map, method: str, path: str) -> str | None:
    """The URL rule a request reaches (``/api/assets/<asset_id>``), or ``None``."""
    target = unquote(urlsplit(path).path)
    try:
        rule, _ = url_map.bind("localhost").match(target, method=method, return_rule=True)
    except HTTPException:
        return None
    return rule.rule


def openapi_path(rule: str) -> str:
    """``/api/assets/<asset_id>/versions/<int:number>/restore`` → ``…/{number}/restore``."""
    out = []
    for segment in rule.split("/"):
        if segment.startswith("<") and segment.endswith(">"):
            segment = "{" + segment[1:-1].split(":")[-1] + "}"
        out.append(segment)
    return "/".join(out)


def documented_statuses(document: dict[str, Any], rule: str, method: str) -> set[str]:
    operation = document["paths"][openapi_path(rule)][method.lower()]
    return set(operation["responses"])
