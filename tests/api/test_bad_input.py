"""Bad input (docs/architecture.md, "Bad input"): each gets a clear 4xx problem document and
leaves nothing behind — no temp blob, no partial file, no new blob, no catalog record, no open
upload session."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import trio

from tests.conftest import data_files

from .conftest import UPLOAD
from .helpers import (
    BOUNDARY,
    TEXT_BYTES,
    Part,
    assert_problem,
    chunked,
    fields,
    file_part,
    multipart,
    multipart_type,
    sha256,
)

MiB = 1024 * 1024
#: big enough that the file part reaches the temp area in several writes before the end
BIG_TEXT = TEXT_BYTES * 2200  # ~ 2.6 MiB


# --- the multipart framing ----------------------------------------------------------------


async def test_no_file_part(post_form, leftovers):
    problem = assert_problem(await post_form(fields(title="no file")), 400)
    assert "file" in problem["detail"]
    await leftovers.assert_clean()


async def test_empty_form(post_form, leftovers):
    assert_problem(await post_form([]), 400)
    await leftovers.assert_clean()


async def test_empty_body(post_form, leftovers):
    assert_problem(await post_form([], body=b""), 400)
    await leftovers.assert_clean()


@pytest.mark.parametrize("size", [len(TEXT_BYTES), len(BIG_TEXT)])
async def test_two_file_parts(post_form, leftovers, size):
    content = BIG_TEXT[:size]
    response = await post_form([file_part(content, "a.txt"), file_part(content, "b.txt")])
    problem = assert_problem(response, 400)
    assert "exactly one" in problem["detail"]
    await leftovers.assert_clean()


async def test_empty_file(post_form, leftovers):
    problem = assert_problem(await post_form([file_part(b"", "empty.txt")]), 400)
    assert "empty" in problem["detail"]
    await leftovers.assert_clean()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"this is not a multipart body at all", id="garbage"),
        pytest.param(b"\x00\xff" * 5000, id="binary-garbage"),
        pytest.param(
            f"--{BOUNDARY}\r\nthis header has no colon\r\n\r\nvalue\r\n--{BOUNDARY}--\r\n".encode(),
            id="bad-part-header",
        ),
        pytest.param(
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nvalue\r\n--{BOUNDARY}--\r\n".encode(),
            id="no-content-disposition",
        ),
        pytest.param(
            multipart([Part("file", TEXT_BYTES, disposition='attachment; filename="a.txt"')]),
            id="not-form-data",
        ),
        pytest.param(
            multipart([Part("file", TEXT_BYTES, disposition='form-data; filename="a.txt"')]),
            id="part-without-name",
        ),
        pytest.param(
            multipart([file_part()], boundary="some-other-boundary"),
            id="wrong-boundary",
        ),
    ],
)
async def test_malformed_multipart(post_form, leftovers, body):
    assert_problem(await post_form([], body=body), 400)
    await leftovers.assert_clean()


@pytest.mark.parametrize("content", [TEXT_BYTES, BIG_TEXT])
@pytest.mark.parametrize("send_chunked", [False, True], ids=["length", "chunked"])
async def test_truncated_multipart(post_form, leftovers, content, send_chunked):
    """The body ends without the closing boundary (the client stopped early)."""
    body = multipart([*fields(title="t"), file_part(content)], close=False)
    for cut in (len(body), len(body) - 7):  # after the last part / inside the file's bytes
        payload = chunked(body[:cut]) if send_chunked else body[:cut]
        problem = assert_problem(await post_form([], body=payload), 400)
        assert "truncated" in problem["detail"]
    await leftovers.assert_clean()


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; charset=utf-8",
        "multipart/form-data; boundary=" + "x" * 71,
    ],
)
async def test_bad_boundary_parameter(post_form, leftovers, content_type):
    response = await post_form([file_part()], content_type=content_type)
    problem = assert_problem(response, 400)
    assert "boundary" in problem["detail"]
    await leftovers.assert_clean()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"file": "aGVsbG8="}).encode()),
        ("application/x-www-form-urlencoded", b"title=x&file=hello"),
        ("text/plain", TEXT_BYTES),
        ("application/octet-stream", TEXT_BYTES),
        ("multipart/mixed; boundary=" + BOUNDARY, multipart([file_part()])),
    ],
)
async def test_not_multipart_form_data(post_form, leftovers, content_type, body):
    response = await post_form([], content_type=content_type, body=body)
    assert_problem(response, 415)
    await leftovers.assert_clean()


async def test_no_content_type(client, auth, leftovers):
    response = await client.post(UPLOAD, headers=auth(), content=multipart([file_part()]))
    assert_problem(response, 415)
    await leftovers.assert_clean()


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param([Part("file", TEXT_BYTES)], id="file-without-filename"),
        pytest.param([file_part(), Part("title", "x", filename="t.txt")], id="field-with-filename"),
        pytest.param([file_part(), Part("title", b"\xff\xfe not utf-8")], id="field-not-utf8"),
        pytest.param([file_part(), Part("description", "x" * 70_000)], id="field-too-long"),
        pytest.param([file_part(), *(Part(f"f{n}", "x") for n in range(60))], id="too-many-fields"),
    ],
)
async def test_bad_parts(post_form, leftovers, parts):
    assert_problem(await post_form(parts), 400)
    await leftovers.assert_clean()


# --- the form's fields --------------------------------------------------------------------

BAD_FIELDS = {
    "duplicate-title": [Part("title", "one"), Part("title", "two")],
    "duplicate-tags": [Part("tags", "a"), Part("tags", "b")],
    "unknown-field": [Part("colour", "red")],
    "folder-dotdot": [Part("folder", "../etc")],
    "folder-abs-dotdot": [Part("folder", "/media/../etc")],
    "folder-empty-segment": [Part("folder", "/a//b")],
    "folder-relative": [Part("folder", "a/b")],
    "folder-dot": [Part("folder", "/a/./b")],
    "folder-backslash": [Part("folder", "/a\\b")],
    "folder-control": [Part("folder", "/a\x00b")],
    "visibility": [Part("visibility", "everyone")],
    "custom-array": [Part("custom", "[1, 2]")],
    "custom-number": [Part("custom", "42")],
    "custom-string": [Part("custom", '"text"')],
    "custom-not-json": [Part("custom", "{not json")],
    "custom-too-large": [Part("custom", json.dumps({"k": "v" * 20_000}))],
    "name-control-chars": [Part("name", "bad\x07name")],
    "title-too-long": [Part("title", "t" * 501)],
    "tag-too-long": [Part("tags", "t" * 65)],
    "too-many-tags": [Part("tags", ",".join(f"t{n}" for n in range(101)))],
    "type-unknown": [Part("type", "hologram")],
}


@pytest.mark.parametrize("position", ["before-file", "after-big-file"])
@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
async def test_bad_field(post_form, leftovers, case, position):
    if position == "before-file":
        parts = [*BAD_FIELDS[case], file_part()]
    else:
        parts = [file_part(BIG_TEXT), *BAD_FIELDS[case]]
    assert_problem(await post_form(parts), 400)
    await leftovers.assert_clean()


async def test_bad_upload_id_header(post_form, auth, leftovers):
    for value in ("short", "x" * 65, "has space in it", "../../../etc/x"):
        response = await post_form([file_part()], headers={**auth(), "X-Upload-Id": value})
        assert_problem(response, 400)
    await leftovers.assert_clean()


# --- size ---------------------------------------------------------------------------------


async def test_announced_length_over_the_limit(post_form, settings, leftovers):
    """A Content-Length over the limit is refused before any of the body is read."""
    content = b"a" * (settings.max_upload_bytes + 2 * MiB)
    problem = assert_problem(await post_form([file_part(content)]), 413)
    assert str(settings.max_upload_bytes) in problem["detail"]
    await leftovers.assert_clean()


async def test_announced_length_over_the_limit_without_the_body(base_url, auth, leftovers):
    """The 413 comes from the headers alone: the client need not send the body at all."""
    stream = await open_raw(base_url)
    async with stream:
        await stream.send_all(request_head(base_url, auth(), content_length=10 * 1024**3) + b"--x")
        answer = await read_response(stream)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"application/problem+json" in answer
    await leftovers.assert_clean()


@pytest.mark.parametrize("send_chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("excess", [1, 64 * 1024 + 3, MiB, 3 * MiB])
async def test_file_over_the_limit(post_form, settings, leftovers, excess, send_chunked):
    """Refused while streaming (413) — also when the excess is in the very last bytes, after
    which the client would commit (this once left the request hanging for good)."""
    body = multipart([file_part(b"a" * (settings.max_upload_bytes + excess))])
    problem = assert_problem(await post_form([], body=chunked(body) if send_chunked else body), 413)
    assert str(settings.max_upload_bytes) in problem["detail"]
    await leftovers.assert_clean()


async def test_chunked_epilogue_over_the_limit(post_form, settings, leftovers):
    """Bytes that never reach the file (after the closing boundary) still count."""
    body = multipart([file_part()]) + b"e" * (settings.max_upload_bytes + 2 * MiB)
    assert_problem(await post_form([], body=chunked(body)), 413)
    await leftovers.assert_clean()


@pytest.mark.parametrize("send_chunked", [False, True], ids=["length", "chunked"])
async def test_file_exactly_at_the_limit_is_accepted(post_form, settings, send_chunked):
    """The limit is the file's: the multipart framing around it does not count (a
    Content-Length of limit + framing was once refused up front)."""
    content = b"a" * settings.max_upload_bytes
    body = multipart([*fields(title="at the limit"), file_part(content)])
    response = await post_form([], body=chunked(body) if send_chunked else body)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == settings.max_upload_bytes
    assert response.json()["checksum"] == sha256(content)


async def test_service_still_works_after_refusals(post_form, settings):
    assert_problem(await post_form([file_part(b"a" * (settings.max_upload_bytes + 1))]), 413)
    assert_problem(await post_form([file_part(b"")]), 400)
    response = await post_form([file_part()])
    assert response.status_code == 201, response.text


# --- ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DOWNLOAD", "HEAD", "DELETE"])
async def test_unknown_and_malformed_ids(client, auth, leftovers, method):
    for asset_id, status in [
        ("00000000-0000-4000-8000-000000000000", 404),
        ("7D444840-9DC0-11D1-B245-5FFDCE74FAD2", 404),
        ("not-a-uuid", 400),
        ("12345", 400),
        ("00000000-0000-4000-8000-00000000000g", 400),
    ]:
        url = f"/api/assets/{asset_id}"
        match method:
            case "GET":
                response = await client.get(url, headers=auth())
            case "DOWNLOAD":
                response = await client.get(f"{url}/download", headers=auth())
            case "HEAD":
                response = await client.head(f"{url}/download", headers=auth())
            case _:
                response = await client.delete(url, headers=auth())
        if method == "HEAD":
            assert response.status_code == status
        else:
            assert_problem(response, status)
    await leftovers.assert_clean()


async def test_unknown_route_and_method_are_problems(client, auth):
    assert_problem(await client.get("/api/nothing-here", headers=auth()), 404)
    response = await client.put("/api/library/audio/folders", headers=auth())
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


# --- a client that goes away --------------------------------------------------------------


async def open_raw(base_url: str) -> trio.SocketStream:
    parts = urlsplit(base_url)
    return await trio.open_tcp_stream(parts.hostname, parts.port)


def request_head(
    base_url: str, headers: dict[str, str], *, content_length: int | None = None
) -> bytes:
    lines = [
        f"POST {UPLOAD} HTTP/1.1",
        f"Host: {urlsplit(base_url).netloc}",
        f"Content-Type: {multipart_type()}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    if content_length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until the end of the head and a little of the body."""
    data = b""
    with trio.fail_after(10):
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some()
            if not chunk:
                break
            data += chunk
    return data


async def wait_until(predicate, what: str, within: float = 5.0) -> None:
    """Bounded poll: the server notices a vanished client on its own schedule."""
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await trio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def partials(settings) -> list[str]:
    return [f for f in data_files(settings) if f.startswith((".partial/", "temp-uploads/"))]


@pytest.mark.parametrize("send_chunked", [False, True], ids=["length", "chunked"])
async def test_client_disconnects_mid_upload(
    base_url, auth, settings, engine, leftovers, send_chunked
):
    body = multipart([*fields(title="gone"), file_part(BIG_TEXT)])
    half = body[: len(body) // 2]
    upload_id = f"gone-{send_chunked}"
    stream = await open_raw(base_url)
    content_length = None if send_chunked else len(body)
    headers = {**auth(), "X-Upload-Id": upload_id}
    await stream.send_all(request_head(base_url, headers, content_length=content_length))
    if send_chunked:
        await stream.send_all(b"%x\r\n%s\r\n" % (len(half), half))
    else:
        await stream.send_all(half)

    def receiving() -> bool:
        progress = engine.upload_progress("acme", upload_id)
        return progress is not None and progress.received_bytes > 0

    # The upload has really started: its session is taking bytes into a partial file (an S3
    # store keeps an upload this small in memory until it completes).
    await wait_until(receiving, "the upload to receive bytes")
    assert partials(settings) or settings.blob_store.startswith("s3://")
    await stream.aclose()

    await wait_until(
        lambda: not partials(settings) and engine.upload_progress("acme", upload_id) is None,
        "the abandoned upload to be cleaned up",
    )
    await leftovers.assert_clean()


async def test_early_answer_mid_upload_closes_the_connection(base_url, auth, leftovers):
    """The view refuses the body half-way (a second file part) while the client keeps
    sending: the client gets the 400 and the server closes the connection rather than leaving
    it, the request and the client hanging (this once deadlocked: the body buffer was full,
    nobody read it, and Hypercorn could not deliver the disconnect)."""
    body = multipart([file_part(BIG_TEXT, "a.txt"), file_part(BIG_TEXT * 2, "b.txt")])
    stream = await open_raw(base_url)
    received = bytearray()
    closed = trio.Event()

    async def read_all() -> None:
        try:
            while chunk := await stream.receive_some():
                received.extend(chunk)
        except trio.BrokenResourceError:
            pass  # a reset after the answer: closed all the same
        closed.set()

    async def send_all() -> None:
        try:
            await stream.send_all(request_head(base_url, auth(), content_length=len(body)))
            for start in range(0, len(body), 64 * 1024):
                await stream.send_all(body[start : start + 64 * 1024])
        except trio.BrokenResourceError:
            pass  # the server stopped listening, as it may

    async with stream:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_all)
                nursery.start_soon(send_all)
                await closed.wait()
                nursery.cancel_scope.cancel()
    assert bytes(received).startswith(b"HTTP/1.1 400 "), bytes(received[:200])
    assert b"exactly one" in received
    await leftovers.assert_clean()


# --- numbers that Python's int() chokes on -------------------------------------------------


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({"version": "\u00b2"}, {}, 400),
        ({"version": "9" * 5000}, {}, 400),
        ({}, {"Range": "bytes=0-" + "9" * 5000}, 206),
        ({}, {"Range": "bytes=" + "9" * 5000 + "-"}, 416),
        ({}, {"If-Modified-Since": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"}, 200),
        (
            {},
            {"If-Range": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT", "Range": "bytes=0-1"},
            200,
        ),
    ],
    ids=[
        "superscript-version",
        "huge-version",
        "huge-range-end",
        "huge-range-start",
        "overflowing-if-modified-since",
        "overflowing-if-range",
    ],
)
async def test_numbers_too_big_or_not_ascii_are_4xx_not_500(
    client, auth, create_asset, params, headers, status
):
    asset = await create_asset()
    response = await client.get(
        f"/api/assets/{asset['asset_id']}/download", params=params, headers={**auth(), **headers}
    )
    assert response.status_code == status, response.text
