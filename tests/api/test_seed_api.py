"""The seed API beyond upload and download: edits, search, library folders and moves, tags and
categories, the audio library, versions, trash, signed links."""

from __future__ import annotations

import io
import time
import wave
from urllib.parse import parse_qs, urlsplit

import pytest
import trio

from .conftest import record_ids
from .helpers import TEXT_BYTES, assert_problem, sha256


def wav_bytes(seconds: float = 0.5, rate: int = 8000, tone: int = 0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes([tone % 256, 0]) * int(seconds * rate))
    return buffer.getvalue()


@pytest.fixture
async def text_asset(create_asset):
    return await create_asset(TEXT_BYTES, "notes.txt", title="Team notes", tags="work,notes")


# --- PUT /api/assets/{id} -----------------------------------------------------------------


async def test_partial_update_bumps_the_revision_and_etag(client, auth, text_asset):
    url = f"/api/assets/{text_asset['asset_id']}"
    response = await client.put(
        url,
        headers=auth(),
        json={
            "title": "Renamed",
            "tags": ["Work", "draft"],
            "folder": "/team/2026",
            "custom": {"k": 1},
            "visibility": "private",
            "category": "memo",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revision"] == text_asset["revision"] + 1
    assert response.headers["ETag"] == f'"r{body["revision"]}"'
    assert body["metadata"] == {
        "title": "Renamed",
        "description": None,
        "tags": ["work", "draft"],
        "folder": "/team/2026",
        "custom": {"k": 1},
    }
    assert (body["visibility"], body["category"]) == ("private", "memo")
    assert body["name"] == text_asset["name"]  # untouched
    folders = (await client.get("/api/library/document/folders", headers=auth())).json()
    assert {"path": "/team/2026", "count": 1} in folders["items"]
    cleared = await client.put(url, headers=auth(), json={"title": None})
    assert cleared.json()["metadata"]["title"] is None


async def test_if_match_guards_against_lost_updates(client, auth, text_asset):
    url = f"/api/assets/{text_asset['asset_id']}"
    etag = (await client.get(url, headers=auth())).headers["ETag"]
    first = await client.put(url, headers={**auth(), "If-Match": etag}, json={"title": "A"})
    second = await client.put(url, headers={**auth(), "If-Match": etag}, json={"title": "B"})
    assert first.status_code == 200
    assert_problem(second, 412)
    assert (await client.get(url, headers=auth())).json()["metadata"]["title"] == "A"


@pytest.mark.parametrize(
    "body",
    [
        {"owner": "me"},
        {"tags": "a,b"},
        {"name": ""},
        {"folder": "../x"},
        {"custom": [1]},
        {"visibility": "world"},
        {"title": 5},
        ["title"],
        None,
    ],
)
async def test_bad_edits_are_400_and_change_nothing(client, auth, text_asset, body):
    url = f"/api/assets/{text_asset['asset_id']}"
    assert_problem(await client.put(url, headers=auth(), json=body), 400)
    assert (await client.get(url, headers=auth())).json()["revision"] == text_asset["revision"]


async def test_viewers_may_not_edit(client, auth, text_asset):
    url = f"/api/assets/{text_asset['asset_id']}"
    viewer = auth(user="vic", roles=("viewer",))
    assert_problem(await client.put(url, headers=viewer, json={"title": "x"}), 403)


# --- search -------------------------------------------------------------------------------


async def test_search_combines_text_filters_sort_and_pages(client, auth, create_asset):
    await create_asset(TEXT_BYTES, "café-menu.txt", tags="food,menu", folder="/docs/food")
    await create_asset(TEXT_BYTES + b"x" * 500, "cafe-prices.txt", tags="food", folder="/docs")
    await create_asset(wav_bytes(), "jingle.wav", tags="audio")
    base = {"q": "CAFE", "sort": "size", "limit": "1"}
    first = (await client.get("/api/assets/search", headers=auth(), params=base)).json()
    assert [a["original_filename"] for a in first["items"]] == ["café-menu.txt"]
    second = await client.get(
        "/api/assets/search", headers=auth(), params={**base, "cursor": first["next_cursor"]}
    )
    assert [a["original_filename"] for a in second.json()["items"]] == ["cafe-prices.txt"]
    assert second.json()["next_cursor"] is None
    filtered = await client.get(
        "/api/assets/search",
        headers=auth(),
        params={"tags": "food,menu", "folder": "/docs", "recursive": "true", "type": "document"},
    )
    assert [a["original_filename"] for a in filtered.json()["items"]] == ["café-menu.txt"]
    audio = await client.get("/api/assets/search", headers=auth(), params={"mime": "audio/*"})
    assert [a["type"] for a in audio.json()["items"]] == ["audio"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "x"},
        {"cursor": "not-ours"},
        {"sort": "colour"},
        {"tag_mode": "some"},
        {"min_size": "-1"},
        {"created_after": "May"},
        {"min_duration": "nan"},
        {"type": "hologram"},
        {"folder": "a/b"},
        {"recursive": "maybe"},
    ],
)
async def test_bad_search_parameters_are_400(client, auth, params):
    assert_problem(await client.get("/api/assets/search", headers=auth(), params=params), 400)


async def test_unknown_search_parameters_are_ignored(client, auth, text_asset):
    response = await client.get("/api/assets/search", headers=auth(), params={"colour": "red"})
    assert [a["asset_id"] for a in response.json()["items"]] == [text_asset["asset_id"]]


async def test_trash_is_only_searched_by_admins_who_ask(client, auth, text_asset):
    await client.delete(f"/api/assets/{text_asset['asset_id']}", headers=auth())
    listed = await client.get("/api/assets/search", headers=auth(roles=("admin",)))
    assert listed.json()["items"] == []
    params = {"include_deleted": "true"}
    admin = await client.get("/api/assets/search", headers=auth(roles=("admin",)), params=params)
    assert [a["asset_id"] for a in admin.json()["items"]] == [text_asset["asset_id"]]
    assert_problem(await client.get("/api/assets/search", headers=auth(), params=params), 403)


async def test_private_assets_are_hidden_from_other_users_lists(client, auth, create_asset):
    await create_asset(TEXT_BYTES, "secret.txt", visibility="private")
    mine = await client.get("/api/assets/search", headers=auth())
    theirs = await client.get("/api/assets/search", headers=auth(user="bob"))
    boss = await client.get("/api/assets/search", headers=auth(user="root", roles=("admin",)))
    assert len(mine.json()["items"]) == 1
    assert theirs.json()["items"] == []
    assert len(boss.json()["items"]) == 1


# --- library: folders, moves, tags, categories ----------------------------------------------


async def test_folders_are_created_listed_and_counted(client, auth, create_asset):
    url = "/api/library/document/folder"
    created = await client.post(url, headers=auth(), json={"path": "/podcasts/2026/"})
    assert created.status_code == 201
    assert created.json() == {"path": "/podcasts/2026", "count": 0}
    again = await client.post(url, headers=auth(), json={"path": "/podcasts/2026"})
    assert again.status_code == 200
    await create_asset(TEXT_BYTES, "a.txt", folder="/podcasts/2026")
    listed = (await client.get("/api/library/document/folders", headers=auth())).json()
    assert listed["items"] == [
        {"path": "/", "count": 0},
        {"path": "/podcasts", "count": 0},
        {"path": "/podcasts/2026", "count": 1},
    ]
    other = await client.get("/api/library/document/folders", headers=auth(customer="globex"))
    assert other.json()["items"] == [{"path": "/", "count": 0}]


@pytest.mark.parametrize(
    "body", [{"path": "../etc"}, {"path": "/a//b"}, {"path": "/"}, {"path": 3}, {}, []]
)
async def test_bad_folders_are_400(client, auth, body):
    response = await client.post("/api/library/document/folder", headers=auth(), json=body)
    assert_problem(response, 400)


async def test_unknown_types_are_404(client, auth):
    assert_problem(await client.get("/api/library/hologram", headers=auth()), 404)
    assert_problem(await client.get("/api/library/hologram/folders", headers=auth()), 404)


async def test_move_is_all_or_nothing(client, auth, create_asset):
    one = await create_asset(TEXT_BYTES, "one.txt")
    two = await create_asset(TEXT_BYTES, "two.txt")
    sound = await create_asset(wav_bytes(), "s.wav")
    url = "/api/library/document/move"
    missing = "00000000-0000-4000-8000-000000000000"
    for bad_ids, status in (
        ([one["asset_id"], missing], 404),
        ([one["asset_id"], sound["asset_id"]], 400),
    ):
        response = await client.put(
            url, headers=auth(), json={"asset_ids": bad_ids, "folder": "/moved"}
        )
        problem = assert_problem(response, status)
        assert bad_ids[1] in problem["detail"]
        got = await client.get(f"/api/assets/{one['asset_id']}", headers=auth())
        assert got.json()["metadata"]["folder"] == "/"
    moved = await client.put(
        url,
        headers=auth(),
        json={"asset_ids": [one["asset_id"], two["asset_id"]], "folder": "/moved"},
    )
    assert moved.json() == {"moved": 2}
    listed = await client.get("/api/library/document", headers=auth(), params={"folder": "/moved"})
    assert {a["asset_id"] for a in listed.json()["items"]} == {one["asset_id"], two["asset_id"]}


async def test_tags_and_categories_in_use(client, auth, create_asset):
    await create_asset(TEXT_BYTES, "a.txt", tags="x,y", category="memo")
    await create_asset(TEXT_BYTES, "b.txt", tags="x", category="memo")
    await create_asset(TEXT_BYTES, "c.txt", category="report")
    tags = (await client.get("/api/library/document/tags", headers=auth())).json()
    assert tags == {"items": [{"name": "x", "count": 2}, {"name": "y", "count": 1}]}
    cats = (await client.get("/api/library/document/categories", headers=auth())).json()
    assert cats == {"items": [{"name": "memo", "count": 2}, {"name": "report", "count": 1}]}


# --- the audio library --------------------------------------------------------------------


async def test_audio_library_save_list_stats_delete(client, auth, create_asset):
    saved = await client.post(
        "/api/audio-library",
        headers=auth(),
        files={"file": ("beep.wav", wav_bytes(), "audio/wav")},
        data={"folder": "/jingles", "tags": "short"},
    )
    assert saved.status_code == 201, saved.text
    sound = saved.json()
    assert sound["type"] == "audio"
    await create_asset(TEXT_BYTES, "notes.txt")  # not audio: never listed here
    listed = (await client.get("/api/audio-library", headers=auth())).json()
    assert [a["asset_id"] for a in listed["items"]] == [sound["asset_id"]]
    stats = (await client.get("/api/audio-library/stats", headers=auth())).json()
    assert stats["count"] == 1
    assert stats["total_size"] == sound["size"]
    assert set(stats["by_format"]) == {"wav"}
    assert stats["by_folder"]["/jingles"]["count"] == 1
    deleted = await client.delete(f"/api/audio-library/{sound['asset_id']}", headers=auth())
    assert deleted.status_code == 204
    assert (await client.get("/api/audio-library/stats", headers=auth())).json()["count"] == 0


async def test_audio_library_refuses_other_content_and_other_types(client, auth, text_asset):
    response = await client.post(
        "/api/audio-library", headers=auth(), files={"file": ("a.wav", TEXT_BYTES, "audio/wav")}
    )
    assert_problem(response, 415)
    refused = await client.delete(f"/api/audio-library/{text_asset['asset_id']}", headers=auth())
    assert_problem(refused, 404)
    still = await client.get(f"/api/assets/{text_asset['asset_id']}", headers=auth())
    assert still.status_code == 200


# --- versions -----------------------------------------------------------------------------


async def test_versions_add_list_download_restore(client, auth, text_asset):
    asset_id = text_asset["asset_id"]
    second_bytes = b"the second version of the notes\n"
    added = await client.post(
        f"/api/assets/{asset_id}/versions",
        headers=auth(),
        files={"file": ("notes-v2.txt", second_bytes, "text/plain")},
    )
    assert added.status_code == 201, added.text
    assert added.json()["current_version"] == 2
    listed = (await client.get(f"/api/assets/{asset_id}/versions", headers=auth())).json()
    assert [(v["version"], v["checksum"]) for v in listed["items"]] == [
        (2, sha256(second_bytes)),
        (1, sha256(TEXT_BYTES)),
    ]
    old = await client.get(
        f"/api/assets/{asset_id}/download", headers=auth(), params={"version": 1}
    )
    assert old.content == TEXT_BYTES
    restored = await client.post(f"/api/assets/{asset_id}/versions/1/restore", headers=auth())
    assert restored.status_code == 201
    assert restored.json()["current_version"] == 3
    latest = await client.get(f"/api/assets/{asset_id}/download", headers=auth())
    assert latest.content == TEXT_BYTES
    unknown = await client.post(f"/api/assets/{asset_id}/versions/9/restore", headers=auth())
    assert_problem(unknown, 404)


async def test_a_new_version_of_another_type_is_415(client, auth, text_asset):
    response = await client.post(
        f"/api/assets/{text_asset['asset_id']}/versions",
        headers=auth(),
        files={"file": ("x.wav", wav_bytes(), "application/octet-stream")},
    )
    assert_problem(response, 415)


# --- trash ----------------------------------------------------------------------------------


async def test_restore_and_purge(client, auth, engine, settings, text_asset):
    asset_id = text_asset["asset_id"]
    admin = auth(user="root", roles=("admin",))
    await client.delete(f"/api/assets/{asset_id}", headers=auth())
    assert_problem(await client.post(f"/api/assets/{asset_id}/restore", headers=auth()), 404)
    restored = await client.post(f"/api/assets/{asset_id}/restore", headers=admin)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert (await client.get(f"/api/assets/{asset_id}", headers=auth())).status_code == 200
    assert_problem(
        await client.delete(f"/api/assets/{asset_id}", headers=auth(), params={"permanent": "1"}),
        403,
    )
    purged = await client.delete(
        f"/api/assets/{asset_id}", headers=admin, params={"permanent": "true"}
    )
    assert purged.status_code == 204
    assert await record_ids(engine) == set()
    blobs = list((settings.data_dir / "blobs" / "document-assets").rglob("v*"))
    assert blobs == []


# --- signed links ---------------------------------------------------------------------------


async def test_signed_links_download_without_a_token_until_they_expire(client, auth, text_asset):
    asset_id = text_asset["asset_id"]
    answer = await client.get(
        f"/api/assets/{asset_id}/url", headers=auth(), params={"expires": "60"}
    )
    assert answer.status_code == 200
    link = answer.json()["url"]
    downloaded = await client.get(link)
    assert downloaded.status_code == 200
    assert downloaded.content == TEXT_BYTES
    ranged = await client.get(link, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    forged = {**query, "version": "2"}
    assert_problem(await client.get(parts.path, params=forged), 403)
    expired = {**query, "expires": str(int(time.time()) - 1)}
    assert_problem(await client.get(parts.path, params=expired), 403)
    redirect = await client.get(
        f"/api/assets/{asset_id}/download", headers=auth(), params={"redirect": "1"}
    )
    assert redirect.status_code == 302
    assert (await client.get(redirect.headers["Location"])).content == TEXT_BYTES


async def test_a_link_dies_with_its_asset(client, auth, text_asset):
    asset_id = text_asset["asset_id"]
    link = (await client.get(f"/api/assets/{asset_id}/url", headers=auth())).json()["url"]
    await client.delete(f"/api/assets/{asset_id}", headers=auth())
    assert_problem(await client.get(link), 404)


@pytest.mark.parametrize("expires", ["0", "-5", "x", str(8 * 24 * 3600)])
async def test_bad_link_lifetimes_are_400(client, auth, text_asset, expires):
    response = await client.get(
        f"/api/assets/{text_asset['asset_id']}/url", headers=auth(), params={"expires": expires}
    )
    assert_problem(response, 400)


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrent_puts_with_one_if_match_one_wins(client, auth, text_asset):

    url = f"/api/assets/{text_asset['asset_id']}"
    etag = (await client.get(url, headers=auth())).headers["ETag"]
    statuses: list[int] = []

    async def put(title: str) -> None:
        response = await client.put(
            url, headers={**auth(), "If-Match": etag}, json={"title": title}
        )
        statuses.append(response.status_code)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(put, "first")
        nursery.start_soon(put, "second")
    assert sorted(statuses) == [200, 412]


async def test_concurrent_new_versions_are_both_kept(client, auth, text_asset):

    asset_id = text_asset["asset_id"]
    bodies = [b"version from client one\n", b"version from client two\n"]

    async def add(body: bytes) -> None:
        response = await client.post(
            f"/api/assets/{asset_id}/versions",
            headers=auth(),
            files={"file": ("v.txt", body, "text/plain")},
        )
        assert response.status_code == 201, response.text

    async with trio.open_nursery() as nursery:
        for body in bodies:
            nursery.start_soon(add, body)
    listed = (await client.get(f"/api/assets/{asset_id}/versions", headers=auth())).json()
    assert [v["version"] for v in listed["items"]] == [3, 2, 1]
    assert {v["checksum"] for v in listed["items"][:2]} == {sha256(b) for b in bodies}


def test_the_query_parser_hands_the_catalog_a_typed_sort():
    from werkzeug.datastructures import MultiDict

    from asset_service.engine.search import SortOrder
    from asset_service.http.query import asset_query

    query = asset_query(MultiDict({"sort": "-size"}), "acme", search=True)
    assert query.sort == SortOrder("size", descending=True)
    assert asset_query(MultiDict(), "acme").sort == SortOrder("created_at", descending=True)
