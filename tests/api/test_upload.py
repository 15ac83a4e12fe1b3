"""``POST /api/assets/upload`` and ``GET /api/assets/{id}``: what a good upload stores and
shows, and that the bytes — not the name or the declared type — decide the content type."""

from __future__ import annotations

import json

import pytest

from .conftest import UPLOAD, record_ids
from .helpers import (
    PNG_BYTES,
    TEXT_BYTES,
    assert_problem,
    chunked,
    fields,
    file_part,
    multipart,
    multipart_type,
    sha256,
)

ASSET_KEYS = {
    "asset_id",
    "type",
    "name",
    "original_filename",
    "mime_type",
    "size",
    "duration",
    "dimensions",
    "metadata",
    "category",
    "checksum",
    "versions",
    "created_at",
    "updated_at",
    "deleted_at",
}


async def test_upload_with_every_field(post_form, client, auth, engine):
    custom = {"episode": 12, "guests": ["ann", "bo"], "nested": {"ok": True}}
    parts = [
        *fields(
            name="Episode 12",
            title="The twelfth one",
            description="Line one\nline two",
            tags="Podcast, news ,podcast,,2026",
            folder="/podcasts/2026/",
            category="shows",
            custom=json.dumps(custom),
            visibility="private",
        ),
        file_part(TEXT_BYTES, "episode-12.txt", "text/plain"),
    ]
    response = await post_form(parts)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    asset = response.json()
    assert set(asset) >= ASSET_KEYS
    assert response.headers["Location"] == f"/api/assets/{asset['asset_id']}"
    assert asset["type"] == "document"
    assert asset["mime_type"] == "text/plain"
    assert asset["name"] == "Episode 12"
    assert asset["original_filename"] == "episode-12.txt"
    assert asset["size"] == len(TEXT_BYTES)
    assert asset["checksum"] == sha256(TEXT_BYTES)
    assert asset["category"] == "shows"
    assert asset["visibility"] == "private"
    assert asset["deleted_at"] is None
    assert asset["duration"] is None and asset["dimensions"] is None
    assert asset["metadata"] == {
        "title": "The twelfth one",
        "description": "Line one\nline two",
        "tags": ["podcast", "news", "2026"],
        "folder": "/podcasts/2026",
        "custom": custom,
    }
    assert [v["version"] for v in asset["versions"]] == [1]
    assert asset["versions"][0]["size"] == len(TEXT_BYTES)

    got = await client.get(response.headers["Location"], headers=auth())
    assert got.status_code == 200
    assert got.json() == asset
    assert await record_ids(engine) == {asset["asset_id"]}


async def test_upload_with_httpx_files_and_defaults(client, auth):
    """The plain way a client sends a form (httpx ``files=``/``data=``)."""
    response = await client.post(
        UPLOAD,
        headers=auth(),
        files={"file": ("report.txt", TEXT_BYTES, "text/plain")},
        data={"title": "Report"},
    )
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["name"] == "report.txt"  # defaults to the file name
    assert asset["visibility"] == "customer"
    assert asset["metadata"]["folder"] == "/"
    assert asset["metadata"]["tags"] == []
    assert asset["metadata"]["custom"] == {}
    assert asset["metadata"]["title"] == "Report"
    assert asset["category"] is None


async def test_fields_after_the_file_part_count_too(post_form):
    parts = [file_part(), *fields(folder="/late/fields", tags="x")]
    response = await post_form(parts)
    assert response.status_code == 201, response.text
    assert response.json()["metadata"]["folder"] == "/late/fields"
    assert response.json()["metadata"]["tags"] == ["x"]


async def test_chunked_upload_without_content_length(client, auth):
    content = TEXT_BYTES * 2000  # ~ 2.5 MiB: several 1 MiB writes
    body = multipart([*fields(title="chunked"), file_part(content)])
    response = await client.post(
        UPLOAD,
        headers={**auth(), "Content-Type": multipart_type()},
        content=chunked(body, 100_000),
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(content)
    assert response.json()["checksum"] == sha256(content)


async def test_upload_filename_is_cut_to_its_last_segment(create_asset):
    asset = await create_asset(filename="../../etc/passwd.txt")
    assert asset["original_filename"] == "passwd.txt"
    asset = await create_asset(filename="C:\\Users\\me\\notes.txt")
    assert asset["original_filename"] == "notes.txt"


async def test_get_asset_has_revision_etag(create_asset, client, auth):
    asset = await create_asset()
    got = await client.get(f"/api/assets/{asset['asset_id']}", headers=auth())
    assert got.status_code == 200
    assert got.headers["ETag"] == f'"r{asset["revision"]}"'


# --- the bytes decide the type -------------------------------------------------------------


@pytest.mark.parametrize("part_type", [None, "application/octet-stream", "text/plain"])
async def test_png_bytes_named_txt_are_an_image(create_asset, part_type):
    asset = await create_asset(PNG_BYTES, "photo.txt", content_type=part_type)
    assert asset["type"] == "image"
    assert asset["mime_type"] == "image/png"
    assert asset["original_filename"] == "photo.txt"


async def test_png_named_txt_sent_the_way_clients_do(client, auth):
    """httpx (like browsers and curl) derives the part's type from the name: text/plain."""
    request = client.build_request(
        "POST", UPLOAD, headers=auth(), files={"file": ("photo.txt", PNG_BYTES)}
    )
    assert b"Content-Type: text/plain" in request.read()
    response = await client.send(request)
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "image"


async def test_text_declared_as_png_is_refused(post_form, leftovers):
    response = await post_form([file_part(TEXT_BYTES, "photo.png", "image/png")])
    problem = assert_problem(response, 415)
    assert "image" in problem["detail"]
    await leftovers.assert_clean()


async def test_type_field_audio_with_text_bytes_is_refused(post_form, leftovers):
    response = await post_form([*fields(type="audio"), file_part(TEXT_BYTES, "song.mp3")])
    assert_problem(response, 415)
    await leftovers.assert_clean()


async def test_type_field_matching_the_bytes_is_accepted(post_form):
    response = await post_form([*fields(type="image"), file_part(PNG_BYTES, "x.png")])
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "image"


async def test_unknown_type_field_is_bad_input(post_form, leftovers):
    response = await post_form([*fields(type="hologram"), file_part()])
    assert_problem(response, 400)
    await leftovers.assert_clean()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00\x01\x02garbage", id="binary-garbage"),
        pytest.param(b"<html><script>alert(1)</script></html>", id="html"),
    ],
)
async def test_bytes_of_no_known_type_are_refused(post_form, leftovers, content):
    response = await post_form([file_part(content, "data.txt", "text/plain")])
    assert_problem(response, 415)
    await leftovers.assert_clean()


async def test_generic_part_content_type_declares_nothing(create_asset):
    asset = await create_asset(PNG_BYTES, "blob.bin", content_type="application/octet-stream")
    assert asset["type"] == "image"


async def test_part_content_type_parameters_are_ignored(create_asset):
    asset = await create_asset(TEXT_BYTES, "a.txt", content_type="text/plain; charset=utf-8")
    assert asset["type"] == "document"


async def test_utf8_filename_in_the_part_header(create_asset):
    asset = await create_asset(filename="naïve résumé.txt")
    assert asset["original_filename"] == "naïve résumé.txt"
    assert asset["name"] == "naïve résumé.txt"


async def test_rfc5987_file_name_takes_precedence(client, auth):
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="fallback.txt"; '
        "filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
        "plain text\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = await client.post(
        "/api/assets/upload",
        headers={**auth(), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert response.status_code == 201, response.text
    assert response.json()["original_filename"] == "naïve résumé.txt"
