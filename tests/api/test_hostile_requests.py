"""Hostile requests (issue 8): the one list. Each case is a request a hostile or broken client
sends, in one of eleven categories, to some /api route (every route is addressed by at least
one case). For each: the documented status, listed for the operation in the live
``/openapi.json``; an RFC 9457 problem document naming what was wrong; never a 5xx; nothing left
behind — no blob, partial file, record change, folder, upload session or file beside the data
dir — and the server answering the next request as usual.

Header floods are sent raw (``raw=True``): the service answers 431 (``http/header_limit.py``),
or h11 does before the app sees the request — a bare 431/400, no problem document — for a head
still incomplete past 16 KiB or not valid HTTP. Cases the HTTP layer refuses before any blob is
touched (overlong, JSON, headers, ranges, tokens) run on one blob store; the rest on every one.

Documented behaviours asserted here: a file name is reduced to its last path segment without
control characters (``../../etc/passwd`` is stored as ``passwd``); several byte ranges
(``bytes=0-10,5-20``) are answered with the whole body (200), as another unit is; a public
asset's content is downloadable by anyone while its record stays a 404 to other customers;
another customer's asset is a 404, never a 403 (tenancy hides existence).
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from dataclasses import replace
from urllib.parse import unquote

import httpx
import pytest

from asset_service.config import Settings
from asset_service.http import create_app
from tests.media import docx_zip_bomb, png_bomb, svg, tiny_png, wav_bytes

from .helpers import BOUNDARY, PROBLEM_JSON, TEXT_BYTES, Part, multipart_type
from .hostile_cases import (
    AUDIENCE,
    ISSUER,
    NO_JSON,
    OFFSET_STREAM,
    SVG_SCRIPT,
    TUS,
    Case,
    Check,
    World,
    bearer,
    build_world,
    differences,
    documented_statuses,
    docx_with_html_part,
    form,
    jpeg_with_html,
    pdf_html_polyglot,
    png_zip_polyglot,
    raw_head,
    route_of,
    send_raw,
    snapshot,
    text_file,
    token,
    tus_create,
    tus_metadata,
    unsigned,
)

SIZE = len(TEXT_BYTES)
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
A = "/api/assets/{doc}"
G = "/api/assets/{gdoc}"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.domain)</script></body></html>"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Audience and issuer checked, so that a token for another service is refused."""
    return replace(settings, jwt_audience=AUDIENCE, jwt_issuer=ISSUER)


# --- checks on accepted answers --------------------------------------------------------------


def stored_as(filename: str):
    """The upload was accepted with its name cleaned; the download's Content-Disposition is
    plain ASCII with nothing that breaks out of its quotes or its header line."""

    async def check(response: httpx.Response, world: World) -> None:
        asset_id = response.headers.get("Asset-Id") or response.json()["asset_id"]
        record = await world.client.get(f"/api/assets/{asset_id}", headers=world.auth("editor"))
        assert record.json()["original_filename"] == filename
        download = await world.client.get(
            f"/api/assets/{asset_id}/download", params={"inline": "1"}, headers=world.auth("editor")
        )
        disposition = download.headers["Content-Disposition"]
        assert disposition.isascii() and not set(disposition) & set("\r\n\x00"), disposition
        fallback = disposition.split('filename="', 1)[1].split('"; filename*=', 1)[0]
        assert not set(fallback) & set('"\\;%'), disposition
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in download.headers["Content-Security-Policy"]

    return check


async def unsatisfiable(response: httpx.Response, world: World) -> None:
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


async def no_store(response: httpx.Response, world: World) -> None:
    """A refusal no cache may keep (a CDN in front of signed links)."""
    assert response.headers["Cache-Control"] == "no-store"


async def whole_body(response: httpx.Response, world: World) -> None:
    assert response.content == TEXT_BYTES and "Content-Range" not in response.headers


def served_as(mime: str, inline: str) -> Check:
    """A polyglot that is a valid file of its type is stored as that type and served as it,
    whatever its other face: its exact Content-Type, nosniff and the sandbox CSP, an attachment
    by default, and with ``?inline=1`` shown inline (``inline``) only if the type is safe so."""

    async def check(response: httpx.Response, world: World) -> None:
        url = f"/api/assets/{response.json()['asset_id']}/download"
        for params, shown in (({}, "attachment"), ({"inline": "1"}, inline)):
            download = await world.client.get(url, params=params, headers=world.auth("editor"))
            assert download.status_code == 200
            assert download.headers["Content-Type"] == mime
            assert download.headers["Content-Disposition"].startswith(f"{shown};"), params
            assert download.headers["X-Content-Type-Options"] == "nosniff"
            assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"

    return check


async def relative_link(response: httpx.Response, world: World) -> None:
    """A signed link is relative (no ``ASSET_PUBLIC_URL``): never built from ``Host``."""
    assert response.json()["url"].startswith("/api/assets/"), response.text
    assert "evil" not in response.text


def raw_cursor(value: object) -> str:
    """A cursor in the catalog's unsigned shape (base64 of JSON), as a forger would make it."""
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def flood(count: int, size: int) -> dict[str, str]:
    return {f"X-Flood-{n}": "v" * size for n in range(count)}


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


JSON_CT = {"Content-Type": "application/json"}


# --- the cases -------------------------------------------------------------------------------

T, L, J, H, R, M, S, B, K, X, V = (
    "traversal", "overlong", "json", "headers", "ranges", "multipart", "spoofed", "bombs",
    "tokens", "tenancy", "visibility",
)  # fmt: skip
UP = "/api/assets/upload"
AUDIO = "/api/audio-library"

CASES = [
    # path traversal, control characters, absolute paths: in names, folders and path params
    Case("filename-dotdot", T, "POST", UP, 201, **form(text_file("../../etc/passwd")),
         check=stored_as("passwd")),
    Case("filename-backslashes", T, "POST", UP, 201, **form(text_file("..\\..\\x.txt")),
         check=stored_as("x.txt")),
    Case("filename-absolute", T, "POST", UP, 201, **form(text_file("/etc/passwd")),
         check=stored_as("passwd")),
    Case("filename-nul", T, "POST", UP, 201, **form(text_file("a\x00b.txt")),
         check=stored_as("ab.txt")),
    Case("filename-crlf-by-tus", T, "POST", "/api/uploads/", 201,
         **tus_create(TEXT_BYTES, filename='evil\r\nSet-Cookie: a=1; x="y.txt'),
         check=stored_as('evilSet-Cookie: a=1; x="y.txt')),
    Case("filename-quote-semicolon", T, "POST", AUDIO, 201,
         **form(text_file('say "hi"; 100%.wav', wav_bytes(0.1))),
         check=stored_as('say "hi"; 100%.wav')),
    Case("folder-dotdot-form", T, "POST", UP, 400, "absolute path",
         **form(Part("folder", "../../etc"), text_file())),
    Case("folder-dotdot-edit", T, "PUT", A, 400, "'..' segment", json={"folder": "/a/../../etc"}),
    Case("folder-nul-create", T, "POST", "/api/library/document/folder", 400, "control",
         json={"path": "/a\x00b"}),
    Case("folder-crlf-move", T, "PUT", "/api/library/document/move", 400, "control",
         json={"asset_ids": ["{doc}"], "folder": "/x\r\ny"}),
    Case("folder-backslash-tus", T, "POST", "/api/uploads/", 400, "backslash",
         headers={**TUS, "Upload-Length": "10",
                  "Upload-Metadata": tus_metadata(folder="/a\\..\\..\\b")}),
    Case("asset-id-dotdot-encoded", T, "GET", "/api/assets/%2e%2e/download", 400, "UUID"),
    Case("asset-id-slashes-encoded", T, "GET", "/api/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
         404, "not found"),
    Case("asset-type-nul", T, "GET", "/api/library/%00", 404, "no asset type"),
    Case("asset-type-dotdot", T, "GET", "/api/library/%2e%2e/folders", 404, "no asset type"),
    Case("upload-id-dotdot", T, "PATCH", "/api/uploads/%2e%2e", 404, "upload",
         headers={**OFFSET_STREAM, "Upload-Offset": "0"}, body=b"x"),
    # overlong fields
    Case("name-256", L, "PUT", A, 400, "longer than 255", json={"name": "n" * 256}),
    Case("description-10001", L, "POST", UP, 400, "longer than 10000",
         **form(Part("description", "d" * 10_001), text_file())),
    Case("tags-101", L, "PUT", A, 400, "at most 100 tags",
         json={"tags": [f"t{n}" for n in range(101)]}),
    Case("tag-65", L, "POST", UP, 400, "longer than 64",
         **form(Part("tags", "t" * 65), text_file())),
    Case("folder-1025", L, "POST", "/api/library/audio/folder", 400, "longer than 1024",
         json={"path": "/" + "f" * 1024}),
    Case("custom-value-20000", L, "PUT", A, 400, "larger than 16384",
         json={"custom": {"k": "v" * 20_000}}),
    Case("query-10000", L, "GET", "/api/assets/search?q=" + "q" * 10_000, 400, "longer than"),
    Case("cursor-forged-size-overflow", L, "GET",
         "/api/assets/search?sort=size&cursor=" + raw_cursor(["size", 10**30, "x"]), 400,
         "cursor"),
    Case("cursor-nested-3000", L, "GET",
         "/api/library/document?sort=size&cursor=" + raw_cursor("[" * 3000 + "]" * 3000), 400,
         "cursor"),
    Case("cursor-tampered-signature", L, "GET",
         "/api/audio-library?cursor=" + raw_cursor(["created_at", "2020", "x"]) + ".AAAA", 400,
         "cursor"),
    Case("folder-param-5000", L, "GET", "/api/audio-library/stats?folder=/" + "f" * 5000, 400,
         "folder"),
    Case("json-body-300k", L, "PUT", A, 400, "larger than 256 KiB",
         headers=JSON_CT, body=b'{"title": "' + b"t" * 300_000 + b'"}'),
    # wrong JSON types, invalid and ambiguous JSON
    Case("tags-string", J, "PUT", A, 400, "array of strings", json={"tags": "a,b"}),
    Case("name-number", J, "PUT", A, 400, "non-empty string", json={"name": 42}),
    Case("custom-list", J, "PUT", A, 400, "JSON object", json={"custom": [1, 2]}),
    Case("body-array", J, "PUT", A, 400, "JSON object", json=[{"title": "x"}]),
    Case("body-not-json", J, "PUT", "/api/library/document/move", 400, "must be JSON",
         headers=JSON_CT, body=b"{'asset_ids': nope"),
    Case("duplicate-keys", J, "PUT", A, 400, "twice",
         headers=JSON_CT, body=b'{"title": "shown", "title": "stored"}'),
    Case("deeply-nested", J, "PUT", A, 400, "nested", headers=JSON_CT, body=deep(100_000)),
    Case("custom-nested-40", J, "POST", UP, 400, "nested",
         **form(Part("custom", '{"a":' * 40 + "1" + "}" * 40), text_file())),
    Case("nan", J, "PUT", A, 400, "NaN", headers=JSON_CT, body=b'{"custom": {"x": NaN}}'),
    Case("float-overflow", J, "PUT", A, 400, "too large",
         headers=JSON_CT, body=b'{"custom": {"x": 1e400}}'),
    Case("int-5000-digits", J, "PUT", A, 400, "must be JSON",
         headers=JSON_CT, body=b'{"custom": {"x": ' + b"9" * 5000 + b"}}"),
    Case("lone-surrogate", J, "PUT", A, 400, "surrogate",
         headers=JSON_CT, body=b'{"title": "\\ud800"}'),
    Case("move-ids-string", J, "PUT", "/api/library/document/move", 400, "list",
         json={"asset_ids": "{doc}", "folder": "/x"}),
    # huge headers: 431 from the service (header_limit: 100 fields, 32 KiB), or a bare
    # 431/400 from h11 for a head still incomplete past 16 KiB or not HTTP
    Case("header-64k", H, "GET", A, 431, "header fields", raw=True,
         headers={"X-Big": "b" * 65_536}),
    Case("authorization-64k", H, "GET", "/api/assets/{doc}/versions", 431, "header fields",
         raw=True, headers={"Authorization": "Bearer " + "a" * 65_536}),
    Case("500-headers", H, "GET", "/api/library/document/tags", 431, "100 header fields",
         raw=True, headers=flood(500, 1)),
    Case("500-headers-20k-upload", H, "POST", UP, 431, "header fields", raw=True,
         headers=flood(500, 40)),
    Case("head-20k-in-two-reads", H, "GET", "/api/library/document/categories", 431,
         raw=True, split=17_000, headers=flood(50, 400)),
    Case("host-label-too-long", H, "GET", A, 200, headers={"Host": "x" * 200}),
    Case("host-of-another-site-in-link", H, "GET", A + "/url", 200,
         headers={"Host": "evil.example"}, check=relative_link),
    Case("header-nul-byte", H, "GET", "/api/library/document/categories", 400, raw=True,
         headers={"X-Evil": "a\x00b"}),
    # ranges: nginx's answers; several ranges are served whole
    Case("range-reversed", R, "GET", A + "/download", 416, "end before its start",
         headers={"Range": "bytes=10-5"}, check=unsatisfiable),
    Case("range-garbage", R, "GET", A + "/download", 416, "malformed",
         headers={"Range": "bytes=abc"}, check=unsatisfiable),
    Case("range-suffix-zero", R, "GET", A + "/download", 416, "zero bytes",
         headers={"Range": "bytes=-0"}, check=unsatisfiable),
    Case("range-past-the-end", R, "HEAD", A + "/download", 416,
         headers={"Range": f"bytes={SIZE}-{SIZE + 100}"}, check=unsatisfiable),
    Case("range-on-signed-link", R, "GET", A + "/download?{link}", 416, "past the end",
         who="anonymous", headers={"Range": "bytes=99999-"}, check=unsatisfiable),
    Case("ranges-overlapping", R, "GET", A + "/download", 200,
         headers={"Range": "bytes=0-10,5-20"}, check=whole_body),
    Case("range-other-unit", R, "GET", A + "/download", 200,
         headers={"Range": "items=0-5"}, check=whole_body),
    # malformed multipart
    Case("no-boundary", M, "POST", UP, 400, "boundary",
         headers={"Content-Type": "multipart/form-data"}, body=b"--x\r\n\r\n--x--\r\n"),
    Case("unterminated-part", M, "POST", AUDIO, 400, "truncated",
         **form(Part("title", "t"), text_file("a.wav", wav_bytes(0.1)), close=False)),
    Case("duplicate-fields", M, "POST", UP, 400, "title",
         **form(Part("title", "a"), Part("title", "b"), text_file())),
    Case("two-file-parts", M, "POST", "/api/assets/{doc}/versions", 400, "exactly one",
         **form(text_file("a.txt"), text_file("b.txt"))),
    Case("part-without-name", M, "POST", UP, 400, "name",
         **form(Part("file", TEXT_BYTES, disposition='form-data; filename="a.txt"'))),
    Case("wrong-boundary", M, "POST", AUDIO, 400, None,
         headers={"Content-Type": multipart_type("other-" + BOUNDARY)},
         body=form(text_file("a.wav", wav_bytes(0.1)))["body"]),
    # spoofed content types: the bytes decide
    Case("png-as-mp3-to-audio-library", S, "POST", AUDIO, 415, "expected audio",
         **form(text_file("song.mp3", tiny_png(), "audio/mpeg"))),
    Case("html-as-png", S, "POST", UP, 415, "HTML", **form(text_file("x.png", HTML, "image/png"))),
    Case("text-to-audio-library", S, "POST", AUDIO, 415, "audio", **form(text_file("a.wav"))),
    Case("png-as-new-version-of-text", S, "POST", "/api/assets/{doc}/versions", 415, "image",
         **form(text_file("notes.txt", tiny_png(), "text/plain"))),
    Case("png-with-audio-filetype-by-tus", S, "POST", "/api/uploads/", 415, "audio",
         **tus_create(tiny_png(), filename="a.mp3", filetype="audio/mpeg")),
    Case("svg-script-as-png", S, "POST", UP, 422, "script",
         **form(text_file("x.png", SVG_SCRIPT, "image/png"))),
    # decompression and zip bombs, polyglots
    Case("png-20000x20000", B, "POST", UP, 422, "decompression bomb",
         **form(text_file("big.png", png_bomb()))),
    Case("png-bomb-by-tus", B, "POST", "/api/uploads/", 422, "decompression bomb",
         **tus_create(png_bomb(9000, 9000), filename="big.png")),
    Case("docx-zip-bomb", B, "POST", UP, 422, "zip bomb",
         **form(text_file("bomb.docx", docx_zip_bomb()))),
    Case("svg-with-script", B, "POST", UP, 422, "<script>", **form(text_file("x.svg", SVG_SCRIPT))),
    Case("svg-with-onload", B, "POST", UP, 422, "event-handler",
         **form(text_file("x.svg", svg(root_attributes='onload="alert(1)"')))),
    Case("pdf-html-polyglot", B, "POST", UP, 422, "PDF",
         **form(text_file("x.pdf", pdf_html_polyglot()))),
    Case("png-zip-polyglot", B, "POST", UP, 201, **form(text_file("x.png", png_zip_polyglot())),
         check=served_as("image/png", "inline")),
    Case("jpeg-html-polyglot", B, "POST", UP, 201, **form(text_file("x.jpg", jpeg_with_html())),
         check=served_as("image/jpeg", "inline")),
    Case("docx-html-member", B, "POST", UP, 201, **form(text_file("x.docx", docx_with_html_part())),
         check=served_as(DOCX_MIME, "attachment")),
    # tokens (HS vs RS key confusion: tests/api/test_jwt_keys.py)
    Case("token-forged", K, "GET", A, 401, "not valid", who="anonymous",
         headers=bearer(token("not-the-secret-" * 4))),
    Case("token-expired", K, "GET", "/api/library/document/folders", 401, "expired",
         who="anonymous", headers=lambda w: bearer(token(exp=int(time.time()) - 3600))),
    Case("token-alg-none", K, "DELETE", A, 401, "not allowed", who="anonymous",
         headers=bearer(unsigned())),
    Case("token-wrong-audience", K, "GET", "/api/assets/search", 401, "audience",
         who="anonymous", headers=lambda w: bearer(token(aud="another-service"))),
    Case("token-wrong-issuer", K, "GET", "/api/library/image", 401, "issuer", who="anonymous",
         headers=lambda w: bearer(token(iss="https://evil.test"))),
    Case("token-without-bearer", K, "GET", AUDIO, 401, "Bearer", who="anonymous",
         headers=lambda w: {"Authorization": w.auth("editor")["Authorization"][7:]}),
    Case("token-garbage", K, "HEAD", "/api/uploads/{upload}", 401, who="anonymous",
         headers={**TUS, "Authorization": "Bearer not.a.jwt"}),
    Case("token-in-query-string", K, "GET", "/api/assets/{doc}?access_token=x", 401, "Bearer",
         who="anonymous"),
    Case("token-of-another-customer", K, "GET", A, 404, "not found", who="other"),
    Case("token-customer-with-slash", K, "PUT", A, 401, "customer_id", who="anonymous",
         headers=bearer(token(customer_id="acme/evil")), json={"title": "x"}),
    Case("token-customer-dotdot", K, "GET", A, 401, "customer_id", who="anonymous",
         headers=bearer(token(customer_id=".."))),
    Case("token-customer-300-chars", K, "GET", AUDIO, 401, "customer_id", who="anonymous",
         headers=bearer(token(customer_id="c" * 300))),
    Case("token-customer-newline", K, "GET", AUDIO, 401, "customer_id", who="anonymous",
         headers=bearer(token(customer_id="acme\n"))),
    Case("token-exp-string", K, "GET", A, 401, "exp", who="anonymous",
         headers=lambda w: bearer(token(exp=str(int(time.time()) + 600)))),
    Case("token-exp-1e308", K, "GET", A, 401, "exp", who="anonymous",
         headers=bearer(token(exp=1e308))),
    Case("token-lifetime-30-days", K, "GET", A, 401, "exp", who="anonymous",
         headers=lambda w: bearer(token(exp=int(time.time()) + 30 * 86400))),
    Case("service-customer-with-slash", K, "GET", "/api/audio-library/stats", 400,
         "X-Customer-Id", who="service-nobody", headers={"X-Customer-Id": "acme/evil"}),
    Case("service-without-customer", K, "GET", "/api/audio-library/stats", 400,
         "X-Customer-Id", who="service-nobody"),
    # other customers' ids: a 404 like a missing id, never a 403
    Case("get", X, "GET", G, 404, "not found"),
    Case("edit", X, "PUT", G, 404, "not found", json={"title": "mine now"}),
    Case("delete", X, "DELETE", G, 404, "not found", who="admin"),
    Case("purge", X, "DELETE", G + "?permanent=true", 404, "not found", who="admin"),
    Case("versions", X, "GET", G + "/versions", 404, "not found"),
    Case("new-version", X, "POST", G + "/versions", 404, "not found", **form(text_file())),
    Case("restore-version", X, "POST", G + "/versions/1/restore", 404, "not found"),
    Case("restore", X, "POST", G + "/restore", 404, "not found", who="admin"),
    Case("link", X, "GET", G + "/url", 404, "not found"),
    Case("download", X, "GET", G + "/download", 404, "not found"),
    Case("preview", X, "GET", G + "/previews/thumbnail", 404, "not found"),
    Case("preview-link", X, "GET", G + "/url?preview=thumbnail", 404, "not found"),
    Case("audio-delete", X, "DELETE", "/api/audio-library/{gdoc}", 404, "not found"),
    Case("move-into-mine", X, "PUT", "/api/library/document/move", 404, "not found",
         json={"asset_ids": ["{gdoc}"], "folder": "/stolen"}),
    Case("service-for-acme-on-globex", X, "GET", G, 404, "not found", who="service-acme"),
    Case("service-for-globex-on-acme", X, "PUT", A, 404, "not found", who="service-globex",
         json={"title": "x"}),
    Case("upload-progress", X, "GET", "/api/uploads/{gupload}", 404, "upload"),
    Case("upload-bytes", X, "PATCH", "/api/uploads/{gupload}", 404, "upload",
         headers={**OFFSET_STREAM, "Upload-Offset": "0"}, body=TEXT_BYTES),
    Case("upload-terminate", X, "DELETE", "/api/uploads/{gupload}", 404, "upload",
         headers=TUS, who="admin"),
    Case("upload-bytes-by-method-override", X, "POST", "/api/uploads/{gupload}", 404, "upload",
         headers={**OFFSET_STREAM, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"},
         body=TEXT_BYTES),
    # private vs public
    Case("anonymous-download-private", V, "GET", "/api/assets/{private}/download", 401,
         "Bearer", who="anonymous"),
    Case("anonymous-download-customer", V, "HEAD", A + "/download", 401, who="anonymous"),
    Case("anonymous-metadata-of-public", V, "GET", "/api/assets/{public}", 401, "Bearer",
         who="anonymous"),
    Case("anonymous-link-to-public", V, "GET", "/api/assets/{public}/url", 401, "Bearer",
         who="anonymous"),
    Case("other-customer-downloads-public", V, "GET", "/api/assets/{public}/download", 200,
         who="other", check=whole_body),
    Case("other-customer-metadata-of-public", V, "GET", "/api/assets/{public}", 404,
         "not found", who="other"),
    Case("colleague-downloads-private", V, "GET", "/api/assets/{private}/download", 404,
         "not found"),
    Case("anonymous-old-version-of-public", V, "GET", "/api/assets/{public2}/download?version=1",
         401, "Bearer", who="anonymous"),
    Case("other-customer-old-version-of-public", V, "HEAD",
         "/api/assets/{public2}/download?version=1", 404, who="other"),
    Case("link-v1-tampered-to-v2", V, "GET", A + "/download?{link}", 403, "signature",
         who="anonymous"),
    Case("link-expired", V, "GET", A + "/download?{expired}", 403, "expired", who="anonymous"),
    Case("anonymous-preview", V, "GET", A + "/previews/thumbnail", 401, "Bearer",
         who="anonymous"),
    Case("preview-link-forged", V, "GET",
         A + "/previews/thumbnail?version=1&size=256&expires=99999999999&epoch=0&signature=00",
         403, "signature", who="anonymous"),
    # signed links that caches keep (issue 15): what the signature covers, the expiry's bounds
    Case("link-made-inline", V, "GET", A + "/download?{link}&inline=1", 403, "signature",
         who="anonymous", check=no_store),
    Case("link-pinned-made-current", V, "GET", A + "/download?{current}", 403, "signature",
         who="anonymous", check=no_store),
    Case("link-epoch-altered", V, "GET", A + "/download?{epoch_altered}", 403, "signature",
         who="anonymous"),
    Case("link-epoch-garbage", V, "GET", A + "/download?{epoch_garbage}", 403, "incomplete",
         who="anonymous"),
    Case("link-epoch-missing", V, "GET", A + "/download?{epoch_missing}", 403, "incomplete",
         who="anonymous"),
    Case("link-version-current-word", V, "GET", A + "/download?{version_word}", 403,
         "incomplete", who="anonymous"),
    Case("link-expires-past-7-days-less-window", V, "GET", A + "/url?expires=601201", 400,
         "601200"),
    Case("link-expires-exactly-the-most", V, "GET", A + "/url?expires=601200", 200),
    Case("link-inline-garbage", V, "GET", A + "/url?inline=maybe", 400, "inline"),
    Case("preview-link-without-version", V, "GET",
         A + "/previews/thumbnail?size=256&expires=99999999999&epoch=0&signature=00", 403,
         "incomplete", who="anonymous"),
    Case("preview-of-a-kind-the-type-has-not", V, "GET", A + "/previews/poster", 404,
         "no 'poster' preview"),
    Case("link-for-another-asset", V, "GET", "/api/assets/{public}/download?{link}", 403,
         "signature", who="anonymous"),
]  # fmt: skip

CATEGORIES = (T, L, J, H, R, M, S, B, K, X, V)


def target(case: Case, world: World) -> str:
    ids = dict(world.ids)
    ids["expired"] = world.signed(1, int(time.time()) - 60)
    soon = int(time.time()) + 600
    ids["current"] = world.signed(1, soon).replace("version=1&", "")
    ids["epoch_altered"] = world.signed(1, soon).replace("epoch=0", "epoch=1")
    ids["epoch_garbage"] = world.signed(1, soon).replace("epoch=0", "epoch=-1")
    ids["epoch_missing"] = world.signed(1, soon).replace("epoch=0&", "")
    ids["version_word"] = world.signed(1, soon).replace("version=1", "version=current")
    if case.id == "link-v1-tampered-to-v2":
        ids["link"] = ids["link"].replace("version=1", "version=2")
    return case.path.format(**ids)


def ids_in(value: object, world: World) -> object:
    """JSON with ``"{doc}"`` for the world's ids."""
    if isinstance(value, str):
        return world.ids.get(value[1:-1], value) if value.startswith("{") else value
    if isinstance(value, list):
        return [ids_in(v, world) for v in value]
    if isinstance(value, dict):
        return {k: ids_in(v, world) for k, v in value.items()}
    return value


async def send(case: Case, world: World, base_url: str) -> httpx.Response:
    extra = case.headers(world) if callable(case.headers) else case.headers or {}
    headers = {**world.auth(case.who), **extra}
    body = case.body(world) if callable(case.body) else case.body
    url = target(case, world)
    if case.raw:
        head = raw_head(case.method, url, base_url, [*headers.items()])
        return await send_raw(base_url, head, case.split)
    json_body = None if case.json is NO_JSON else ids_in(case.json, world)
    return await world.client.request(
        case.method, url, headers=headers, content=body, json=json_body
    )


@pytest.fixture
async def world(client, make_token, settings) -> World:
    return await build_world(client, make_token, settings)


@pytest.fixture
async def openapi(client) -> dict:
    return (await client.get("/openapi.json")).json()


#: refused by the HTTP layer before any blob is touched: the same on every store, run once
HTTP_LAYER = (L, J, H, R, K)
STORE_CASES = [c for c in CASES if c.category not in HTTP_LAYER]
HTTP_CASES = [c for c in CASES if c.category in HTTP_LAYER]


@pytest.mark.parametrize("case", STORE_CASES, ids=[f"{c.category}-{c.id}" for c in STORE_CASES])
async def test_hostile_request(case, world, engine, settings, base_url, openapi):
    await run(case, world, engine, settings, base_url, openapi)


@pytest.mark.file_store_only
@pytest.mark.parametrize("case", HTTP_CASES, ids=[f"{c.category}-{c.id}" for c in HTTP_CASES])
async def test_hostile_request_to_the_http_layer(case, world, engine, settings, base_url, openapi):
    await run(case, world, engine, settings, base_url, openapi)


async def run(case, world, engine, settings, base_url, openapi) -> None:
    before = await snapshot(engine, settings)
    response = await send(case, world, base_url)
    status = response.status_code
    assert status < 500, response.text
    assert status == case.status, f"{status}: {response.text[:300]}"
    is_problem = response.headers.get("content-type") == PROBLEM_JSON
    # (a raw case's 4xx may be h11's own, bare: the app never saw the request)
    if status >= 400 and case.method != "HEAD" and (is_problem or not case.raw):
        assert is_problem, response.headers
        problem = response.json()
        assert problem["status"] == status and problem["title"] and problem["detail"]
        if case.expect:
            text = f"{problem['title']}\n{problem['detail']}".lower()
            assert case.expect.lower() in text, problem
    elif case.raw and status >= 400:
        assert case.expect is None, "h11 answered: there is no problem document to check"
    if status < 400 or is_problem:
        url = target(case, world)
        rule = route_of(create_app(engine, settings).url_map, case.method, url)
        if rule is not None:
            assert str(status) in documented_statuses(openapi, rule, case.method), rule
    if case.check is not None:
        await case.check(response, world)
    created = set()
    if status == 201:
        created.add(response.headers.get("Asset-Id") or response.json()["asset_id"])
    after = await snapshot(engine, settings)
    assert not differences(before, after, created)
    # and the server answers as usual
    again = await world.client.get(world.path(A), headers=world.auth("editor"))
    assert again.status_code == 200, again.text


# --- guards ----------------------------------------------------------------------------------


def test_every_category_has_cases():
    counts = Counter(case.category for case in CASES)
    assert set(counts) == set(CATEGORIES), counts
    assert all(count >= 3 for count in counts.values()), counts
    assert len(CASES) >= 40
    assert len({(c.category, c.id) for c in CASES}) == len(CASES), "case ids repeat"


@pytest.mark.file_store_only
async def test_every_api_route_has_a_case(engine, settings):
    """A new /api route must join the list (HEAD and OPTIONS come with GET; the WebSocket
    /api/events has its refused handshakes in test_events_ws.py)."""
    app = create_app(engine, settings)
    some_id = "00000000-0000-4000-8000-000000000000"
    ids = dict.fromkeys(("doc", "public", "public2", "private", "gdoc", "missing"), some_id)
    world = World({**ids, "upload": "u" * 32, "gupload": "g" * 32, "link": ""}, {}, "x", None)
    covered = set()
    for case in CASES:
        rule = route_of(app.url_map, case.method, unquote(target(case, world)))
        if rule is not None:
            covered.add(("GET" if case.method == "HEAD" else case.method, rule))
    missing = [
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and not rule.websocket
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if (method, rule.rule) not in covered
    ]
    assert not missing, missing
