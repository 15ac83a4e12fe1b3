"""Served content is safe (issue 8): every download says ``nosniff``, carries a sandboxing
Content-Security-Policy, and is an attachment unless the client asked for ``?inline=1`` and the
type is one a browser shows without running code — an SVG only once its stored bytes pass the
SVG check again at serve time. The same by token, by signed link and anonymously for a public
asset; and a store's own public copy (S3) is an attachment for types not safe inline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx
import pytest

from asset_service.engine.content_safety import MAX_INLINE_SVG_BYTES
from tests.conftest import start_server, with_settings
from tests.media import docx_bytes, pdf_bytes, svg, tiny_png, wav_bytes

from .helpers import TEXT_BYTES

SANDBOX = "default-src 'none'; sandbox"
SVG_POLICY = "default-src 'none'; sandbox; style-src 'unsafe-inline'; img-src data:"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#: a checked SVG may style itself and embed data: rasters
SAFE_SVG = svg(
    "<style>rect { stroke: blue; }</style>"
    '<image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/>'
    "<!--" + "pad " * 40 + "-->"
)


def unsafe_svg_of_size(size: int) -> bytes:
    """An SVG with a script, padded to ``size`` bytes (so it can stand in for a stored one)."""
    bare = svg("<script>alert(document.domain)</script><!---->")
    assert len(bare) <= size
    return svg("<script>alert(document.domain)</script><!--" + "x" * (size - len(bare)) + "-->")


@dataclass(frozen=True)
class Kind:
    name: str
    content: Callable[[], bytes]
    filename: str
    mime: str
    #: Content-Disposition kind with ?inline=1 (without it: always attachment)
    inline: str
    #: the CSP with ?inline=1 (without it: always SANDBOX)
    inline_policy: str = SANDBOX
    #: replace the stored bytes after the upload (a path that skipped the check)
    plant: Callable[[bytes], bytes] | None = None


KINDS = [
    Kind("png", tiny_png, "pic.png", "image/png", "inline"),
    Kind("wav", partial(wav_bytes, 0.1), "tone.wav", "audio/wav", "inline"),
    Kind("pdf", partial(pdf_bytes, 1), "doc.pdf", "application/pdf", "inline"),
    Kind("text", lambda: TEXT_BYTES, "notes.txt", "text/plain", "inline"),
    Kind("svg-checked", lambda: SAFE_SVG, "logo.svg", "image/svg+xml", "inline", SVG_POLICY),
    Kind(
        "svg-fails-check",
        lambda: SAFE_SVG,
        "evil.svg",
        "image/svg+xml",
        "attachment",
        plant=lambda stored: unsafe_svg_of_size(len(stored)),
    ),
    Kind("docx", docx_bytes, "report.docx", DOCX_TYPE, "attachment"),
]


def disposition(kind: str, filename: str) -> str:
    return f"{kind}; filename=\"{filename}\"; filename*=UTF-8''{filename}"


def assert_headers(response: httpx.Response, kind: Kind, inline: bool, where: str) -> None:
    shown = kind.inline if inline else "attachment"
    policy = kind.inline_policy if inline and kind.inline == "inline" else SANDBOX
    headers = response.headers
    assert response.status_code in (200, 206), (where, response.status_code, response.text)
    assert headers["Content-Disposition"] == disposition(shown, kind.filename), where
    assert headers["Content-Security-Policy"] == policy, where
    assert headers["X-Content-Type-Options"] == "nosniff", where
    assert headers["Content-Type"].split(";")[0] == kind.mime, where


async def plant(engine, asset: dict, content: bytes) -> None:
    """Write ``content`` over the stored bytes of version 1, as a path that did not check
    them would have left it (same size: the record's size and length stay true)."""
    bucket, key = asset["storage"]["bucket"], asset["versions"][0]["storage_key"]
    writer = await engine.store.open_writer(bucket, key)
    await writer.write(content)
    await writer.complete()


@pytest.fixture
async def made(create_asset, engine):
    async def make(kind: Kind, **form: str) -> tuple[dict, bytes]:
        content = kind.content()
        asset = await create_asset(content, kind.filename, **form)
        assert asset["mime_type"] == kind.mime, asset["mime_type"]
        if kind.plant is not None:
            content = kind.plant(content)
            await plant(engine, asset, content)
        return asset, content

    return make


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
async def test_download_by_token_link_and_anonymously(client, auth, made, kind):
    asset, content = await made(kind, visibility="public")
    url = f"/api/assets/{asset['asset_id']}/download"
    link = (await client.get(f"/api/assets/{asset['asset_id']}/url", headers=auth())).json()["url"]
    for inline in (False, True):
        params = {"inline": "1"} if inline else {}
        ways = {
            "token": await client.get(url, params=params, headers=auth()),
            "token HEAD": await client.head(url, params=params, headers=auth()),
            "token range": await client.get(
                url, params=params, headers={**auth(), "Range": "bytes=0-9"}
            ),
            "other customer": await client.get(url, params=params, headers=auth(customer="globex")),
            "anonymous": await client.get(url, params=params),
            "signed link": await client.get(link, params=params),
        }
        for where, response in ways.items():
            assert_headers(response, kind, inline, f"{where} inline={inline}")
            if response.request.method == "GET" and response.status_code == 200:
                assert response.content == content, where
        assert ways["token range"].status_code == 206
        assert ways["token range"].content == content[:10]


async def test_inline_flag_off_values(client, auth, made):
    asset, _ = await made(KINDS[0])
    url = f"/api/assets/{asset['asset_id']}/download"
    for value in ("0", "false", ""):
        response = await client.get(url, params={"inline": value}, headers=auth())
        assert response.headers["Content-Disposition"].startswith("attachment; ")
        assert response.headers["Content-Security-Policy"] == SANDBOX


async def test_html_stays_an_attachment_and_sandboxed(client, auth, made, engine):
    """A stored HTML document (planted: no built-in plugin stores one) is never inline."""
    kind = Kind(
        "html",
        lambda: TEXT_BYTES,
        "page.txt",
        "text/plain",
        "attachment",
        plant=lambda stored: (b"<html><script>alert(1)</script>" + b" " * len(stored))[
            : len(stored)
        ],
    )
    asset, _ = await made(kind)
    stored = await engine.catalog.get(asset["asset_id"])
    for mime in ("text/html", "application/xhtml+xml", "text/markdown", "application/xml"):
        stored.versions[0].mime_type = mime
        stored.mime_type = mime
        stored.revision += 1
        assert await engine.catalog.replace(stored, stored.revision - 1)
        url = f"/api/assets/{asset['asset_id']}/download"
        response = await client.get(url, params={"inline": "1"}, headers=auth())
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == disposition("attachment", "page.txt")
        assert response.headers["Content-Security-Policy"] == SANDBOX
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.file_store_only
async def test_a_large_svg_is_not_checked_and_stays_an_attachment(client, auth, create_asset):
    big = svg("<!--" + "x" * MAX_INLINE_SVG_BYTES + "-->")
    asset = await create_asset(big, "big.svg")
    url = f"/api/assets/{asset['asset_id']}/download"
    response = await client.get(url, params={"inline": "1"}, headers=auth())
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == disposition("attachment", "big.svg")
    assert response.headers["Content-Security-Policy"] == SANDBOX


async def test_not_modified_answers_without_a_body(client, auth, made):
    asset, _ = await made(KINDS[4])
    url = f"/api/assets/{asset['asset_id']}/download"
    first = await client.get(url, params={"inline": "1"}, headers=auth())
    again = await client.get(
        url, params={"inline": "1"}, headers={**auth(), "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.content == b""


@pytest.mark.file_store_only
async def test_accel_redirect_hand_over_carries_the_same_headers(
    auth, made, engine, settings, nursery
):
    kinds = {k.name: k for k in KINDS}
    assets = {name: (await made(kinds[name]))[0] for name in ("png", "svg-checked", "docx")}
    accel = with_settings(settings, accel_redirect_prefix="/_asset_blobs/")
    base = await start_server(nursery, engine, accel)
    async with httpx.AsyncClient(base_url=base) as nginx_side:
        for name, asset in assets.items():
            url = f"/api/assets/{asset['asset_id']}/download"
            for inline in (False, True):
                params = {"inline": "1"} if inline else {}
                response = await nginx_side.get(url, params=params, headers=auth())
                assert response.headers["X-Accel-Redirect"].startswith("/_asset_blobs/")
                assert_headers(response, kinds[name], inline, f"accel {name}")


@pytest.mark.parametrize("name", ["png", "svg-checked", "text", "docx"])
async def test_public_copy_served_by_the_store(client, made, api_blob_store, name):
    """S3: the public copy MinIO serves from the bucket origin is inline for media only (that
    origin sends no nosniff and no CSP: plain text and PDF are attachments there, and an SVG,
    which nothing checks on that path), with the asset's Content-Type."""
    kind = {k.name: k for k in KINDS}[name]
    asset, content = await made(kind, visibility="public")
    public_url = asset["storage"]["url"]
    if api_blob_store == "file":
        assert public_url is None  # the service serves public assets itself
        return
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(public_url)
    assert response.status_code == 200, response.text
    assert response.content == content
    safe = kind.mime.startswith(("image/png", "image/jpeg", "audio/", "video/"))
    expected = disposition("inline" if safe else "attachment", kind.filename)
    assert response.headers["Content-Disposition"] == expected
    assert response.headers["Content-Type"] == kind.mime
