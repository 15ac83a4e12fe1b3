"""``GET|HEAD /api/assets/{id}/download``: ranges (nginx semantics), validators, conditional
requests, Content-Disposition, versions; and soft delete."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote

import pytest

from .helpers import assert_problem, sha256

SIZE = 1000
CONTENT = (b"abcdefghijklmnopqrstuvwxyz0123456789 The quick brown fox.\n" * 20)[:SIZE]


@pytest.fixture
async def asset(create_asset):
    return await create_asset(CONTENT, "data.txt")


@pytest.fixture
def url(asset):
    return f"/api/assets/{asset['asset_id']}/download"


async def test_full_download(client, auth, asset, url):
    response = await client.get(url, headers=auth())
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == f'"{sha256(CONTENT)}"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Range" not in response.headers
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    assert last_modified.tzinfo is not None
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"data.txt\"; filename*=UTF-8''data.txt"
    )


# --- Range --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        pytest.param("bytes=0-0", 0, 0, id="first-byte"),
        pytest.param("bytes=0-4", 0, 4, id="head"),
        pytest.param("bytes=-500", 500, 999, id="suffix"),
        pytest.param("bytes=500-", 500, 999, id="open-end"),
        pytest.param("bytes=999-", 999, 999, id="last-byte"),
        pytest.param("bytes=0-999999999999", 0, 999, id="clamped-end"),
        pytest.param("bytes=10-999", 10, 999, id="exact-end"),
        pytest.param("bytes=-5000", 0, 999, id="suffix-longer-than-file"),
        pytest.param("bytes=-1000", 0, 999, id="suffix-whole-file"),
    ],
)
async def test_single_range(client, auth, url, header, start, end):
    response = await client.get(url, headers={**auth(), "Range": header})
    assert response.status_code == 206, response.text
    assert response.content == CONTENT[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=1000-", id="start-at-eof"),
        pytest.param("bytes=1000-1000", id="start-at-eof-closed"),
        pytest.param("bytes=5000-6000", id="start-past-eof"),
        pytest.param("bytes=5-2", id="end-before-start"),
        pytest.param("bytes=abc", id="garbage"),
        pytest.param("bytes=-0", id="empty-suffix"),
        pytest.param("bytes=-", id="no-numbers"),
    ],
)
async def test_unsatisfiable_range(client, auth, url, header):
    response = await client.get(url, headers={**auth(), "Range": header})
    assert_problem(response, 416)
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


async def test_multi_range_serves_the_whole_body(client, auth, url):
    response = await client.get(url, headers={**auth(), "Range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert response.content == CONTENT
    assert "Content-Range" not in response.headers


async def test_other_range_unit_is_ignored(client, auth, url):
    response = await client.get(url, headers={**auth(), "Range": "items=0-1"})
    assert response.status_code == 200
    assert response.content == CONTENT


# --- HEAD ---------------------------------------------------------------------------------


async def test_head(client, auth, url):
    response = await client.head(url, headers=auth())
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"] == f'"{sha256(CONTENT)}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Last-Modified" in response.headers
    assert "Content-Disposition" in response.headers


async def test_head_with_range(client, auth, url):
    response = await client.head(url, headers={**auth(), "Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.content == b""
    assert response.headers["Content-Length"] == "100"
    assert response.headers["Content-Range"] == f"bytes 100-199/{SIZE}"


async def test_head_then_get_on_one_connection(client, auth, url):
    """A HEAD answer announcing a length but sending no body must not desync keep-alive."""
    head = await client.head(url, headers=auth())
    get = await client.get(url, headers=auth())
    assert head.status_code == get.status_code == 200
    assert get.content == CONTENT


# --- conditional requests -----------------------------------------------------------------


async def test_if_none_match(client, auth, url):
    first = await client.get(url, headers=auth())
    etag = first.headers["ETag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(url, headers={**auth(), "If-None-Match": value})
        assert response.status_code == 304, value
        assert response.content == b""
        assert response.headers["ETag"] == etag
    response = await client.get(url, headers={**auth(), "If-None-Match": '"other"'})
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_if_modified_since(client, auth, url):
    first = await client.get(url, headers=auth())
    last_modified = first.headers["Last-Modified"]
    response = await client.get(url, headers={**auth(), "If-Modified-Since": last_modified})
    assert response.status_code == 304
    earlier = format_datetime(parsedate_to_datetime(last_modified).replace(year=2000), usegmt=True)
    response = await client.get(url, headers={**auth(), "If-Modified-Since": earlier})
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_if_range_with_matching_etag(client, auth, url):
    etag = (await client.head(url, headers=auth())).headers["ETag"]
    response = await client.get(url, headers={**auth(), "Range": "bytes=0-9", "If-Range": etag})
    assert response.status_code == 206
    assert response.content == CONTENT[:10]


@pytest.mark.parametrize("if_range", ['"not-the-etag"', "W/{etag}", "garbage"])
async def test_if_range_mismatch_serves_everything(client, auth, url, if_range):
    etag = (await client.head(url, headers=auth())).headers["ETag"]
    headers = {**auth(), "Range": "bytes=0-9", "If-Range": if_range.format(etag=etag)}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.content == CONTENT
    assert "Content-Range" not in response.headers


async def test_if_range_with_date(client, auth, url):
    last_modified = (await client.head(url, headers=auth())).headers["Last-Modified"]
    headers = {**auth(), "Range": "bytes=0-9", "If-Range": last_modified}
    response = await client.get(url, headers=headers)
    assert response.status_code == 206
    assert response.content == CONTENT[:10]

    earlier = format_datetime(parsedate_to_datetime(last_modified).replace(year=2000), usegmt=True)
    response = await client.get(url, headers={**headers, "If-Range": earlier})
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_if_range_mismatch_ignores_an_unsatisfiable_range(client, auth, url):
    headers = {**auth(), "Range": "bytes=5000-", "If-Range": '"stale"'}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.content == CONTENT


# --- Content-Disposition ------------------------------------------------------------------


def disposition_params(header: str) -> dict[str, str]:
    kind, *params = (p.strip() for p in header.split(";"))
    out = {"kind": kind}
    for param in params:
        key, _, value = param.partition("=")
        out[key] = value
    return out


async def test_content_disposition_non_ascii(create_asset, client, auth):
    name = "naïve résumé.txt"
    asset = await create_asset(CONTENT, name)
    response = await client.get(f"/api/assets/{asset['asset_id']}/download", headers=auth())
    header = response.headers["Content-Disposition"]
    assert header.isascii()
    params = disposition_params(header)
    assert params["kind"] == "attachment"
    assert params["filename"] == '"na_ve r_sum_.txt"'
    assert params["filename*"].startswith("UTF-8''")
    assert unquote(params["filename*"].removeprefix("UTF-8''")) == name


async def test_content_disposition_quotes_and_separators(create_asset, client, auth):
    name = 'say "hi"; it\'s 100%20 ok.txt'
    asset = await create_asset(CONTENT, name)
    assert asset["original_filename"] == name
    response = await client.get(f"/api/assets/{asset['asset_id']}/download", headers=auth())
    header = response.headers["Content-Disposition"]
    fallback = header.split("filename=", 1)[1].split("; filename*=")[0]
    assert fallback.startswith('"') and fallback.endswith('"')
    # no quote, backslash, percent or semicolon inside the quoted fallback
    assert not set(fallback[1:-1]) & set('"\\%;')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert not set(encoded) & set('"\\; ')
    assert unquote(encoded) == name


async def test_inline(client, auth, url):
    response = await client.get(url, params={"inline": "1"}, headers=auth())
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("inline; ")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    attachment = await client.get(url, params={"inline": "0"}, headers=auth())
    assert attachment.headers["Content-Disposition"].startswith("attachment; ")


async def test_bad_inline_flag(client, auth, url):
    assert_problem(await client.get(url, params={"inline": "maybe"}, headers=auth()), 400)


# --- versions -----------------------------------------------------------------------------


async def test_version_query(client, auth, url):
    response = await client.get(url, params={"version": "1"}, headers=auth())
    assert response.status_code == 200
    assert response.content == CONTENT
    assert_problem(await client.get(url, params={"version": "99"}, headers=auth()), 404)
    for bad in ("abc", "0", "-1", "1.5", ""):
        response = await client.get(url, params={"version": bad}, headers=auth())
        assert_problem(response, 400)


# --- soft delete --------------------------------------------------------------------------


async def test_soft_delete(client, auth, asset, url):
    asset_url = f"/api/assets/{asset['asset_id']}"
    response = await client.delete(asset_url, headers=auth())
    assert response.status_code == 204
    assert response.content == b""

    assert_problem(await client.get(asset_url, headers=auth()), 404)
    assert_problem(await client.get(url, headers=auth()), 404)
    head = await client.head(url, headers=auth())
    assert head.status_code == 404
    assert head.content == b""
    assert_problem(await client.delete(asset_url, headers=auth()), 404)

    admin = auth(user="root", roles=("admin",))
    trash = await client.get(asset_url, params={"include_deleted": "true"}, headers=admin)
    assert trash.status_code == 200
    assert trash.json()["deleted_at"] is not None
    assert_problem(await client.get(asset_url, headers=admin), 404)
    # the trash is not downloadable, not even by an admin
    assert_problem(await client.get(url, headers=admin), 404)

    editor = auth(roles=("editor",))
    response = await client.get(asset_url, params={"include_deleted": "true"}, headers=editor)
    assert_problem(response, 404)


async def test_download_of_a_deleted_asset_still_needs_auth(client, auth, asset, url):
    await client.delete(f"/api/assets/{asset['asset_id']}", headers=auth())
    assert_problem(await client.get(url), 401)
