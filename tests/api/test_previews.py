"""Previews through the HTTP API, on every blob store: each built-in preview made for a small
generated corpus and checked, ``202`` then ``200``, signed links, tenancy, purge, and a file
that passed validation but breaks its renderer."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio
from PIL import Image

from asset_service.engine import AssetEngine
from asset_service.engine.preview_types import Previewer, PreviewState, PreviewStatus
from asset_service.plugins import hookimpl
from asset_service.plugins.builtin import _pictures
from asset_service.wiring import running_engine
from tests.conftest import data_files, start_server
from tests.media import needs_ffmpeg
from tests.preview_media import (
    fading_mp4,
    loud_then_quiet_wav,
    pdf_page,
    rotated_jpeg,
    small_png,
    two_frame_gif,
    undecodable_mp4,
)

from .helpers import assert_problem


async def settled(engine: AssetEngine, asset_id: str, version: int = 1) -> dict[str, PreviewState]:
    """The version's previews once none is pending (told by the events, never by polling)."""
    with trio.fail_after(60):
        async with engine.hub.subscribe() as events:
            while True:
                states = await engine.catalog.previews_of(asset_id, version)  # type: ignore[attr-defined]
                if states and all(s.status != PreviewStatus.PENDING for s in states):
                    return {s.kind: s for s in states}
                async for event in events:
                    if event.name.startswith("asset.preview_"):
                        break


def picture(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


async def upload(create_asset: Any, content: bytes, filename: str) -> dict[str, Any]:
    return await create_asset(content=content, filename=filename)


async def test_image_thumbnails_at_every_size_rotated_and_never_upscaled(
    engine, client, auth, create_asset
):
    asset = await upload(create_asset, rotated_jpeg(600, 400), "photo.jpg")
    assert [p["kind"] for p in asset["previews"]] == ["thumbnail"]
    await settled(engine, asset["asset_id"])
    url = f"/api/assets/{asset['asset_id']}/previews/thumbnail"
    # EXIF says "rotate 90°": the 600x400 pixels are shown 400x600.
    expected = {128: (85, 128), 256: (171, 256), 512: (341, 512), 1024: (400, 600)}
    for size, dimensions in expected.items():
        assert picture(await client.get(url, params={"size": size}, headers=auth())).size == (
            dimensions
        )
    default = await client.get(url, headers=auth())
    assert picture(default).size == (171, 256)
    # the current version's thumbnail changes with the next version: revalidated
    assert default.headers["cache-control"] == "private, no-cache"
    again = await client.get(url, headers={**auth(), "If-None-Match": default.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "private, no-cache"
    # a version's thumbnail never changes
    pinned = await client.get(url, params={"version": 1}, headers=auth())
    assert pinned.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert pinned.headers["etag"] == default.headers["etag"]
    document = (await client.get(f"/api/assets/{asset['asset_id']}", headers=auth())).json()
    [thumbnail] = document["previews"]
    assert thumbnail["status"] == "ready"
    assert {v["size"]: (v["width"], v["height"]) for v in thumbnail["variants"]} == expected
    # lists carry them too, so a grid can draw its thumbnails from one page
    for path in ("/api/assets/search", "/api/library/image"):
        page = (await client.get(path, headers=auth())).json()
        [listed] = [item for item in page["items"] if item["asset_id"] == asset["asset_id"]]
        assert listed["previews"] == document["previews"]

    small = await upload(create_asset, small_png(100, 50), "small.png")
    await settled(engine, small["asset_id"])
    small_url = f"/api/assets/{small['asset_id']}/previews/thumbnail"
    assert picture(await client.get(small_url, params={"size": 128}, headers=auth())).size == (
        100,
        50,
    )
    assert picture(await client.get(small_url, params={"size": 1024}, headers=auth())).mode == (
        "RGBA"
    )
    for bad in ("100", "0", "abc", "256.0"):
        assert_problem(await client.get(url, params={"size": bad}, headers=auth()), 400)
    assert_problem(await client.get(url, params={"buckets": 100}, headers=auth()), 400)
    assert_problem(await client.get(url.replace("thumbnail", "poster"), headers=auth()), 404)
    assert_problem(await client.get(url, params={"version": 9}, headers=auth()), 404)


async def test_the_first_frame_of_an_animation(engine, client, auth, create_asset):
    asset = await upload(create_asset, two_frame_gif(), "anim.gif")
    await settled(engine, asset["asset_id"])
    url = f"/api/assets/{asset['asset_id']}/previews/thumbnail"
    red, _green, blue = (
        picture(await client.get(url, headers=auth())).convert("RGB").getpixel((10, 10))
    )
    assert red > 200 and blue < 50


@needs_ffmpeg
async def test_video_poster_is_from_past_the_black_start(
    engine, client, auth, create_asset, tmp_path
):
    asset = await upload(create_asset, fading_mp4(tmp_path), "fade.mp4")
    assert [p["kind"] for p in asset["previews"]] == ["poster"]
    states = await settled(engine, asset["asset_id"])
    assert states["poster"].status == PreviewStatus.READY, states["poster"].reason
    url = f"/api/assets/{asset['asset_id']}/previews/poster"
    poster = picture(await client.get(url, params={"size": 256}, headers=auth()))
    assert poster.size == (256, 192)
    low, high = poster.convert("L").getextrema()
    assert high - low > 100  # a test pattern, not a uniform black frame


@needs_ffmpeg
async def test_waveform_peaks_show_the_loud_and_the_quiet_half(engine, client, auth, create_asset):
    asset = await upload(create_asset, loud_then_quiet_wav(), "tone.wav")
    await settled(engine, asset["asset_id"])
    url = f"/api/assets/{asset['asset_id']}/previews/waveform"
    response = await client.get(url, headers=auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    waveform = response.json()
    assert waveform["sample_rate"] == 8000
    assert waveform["duration"] == pytest.approx(2.0, abs=0.01)
    assert len(waveform["peaks"]) == 1000
    coarse = (await client.get(url, params={"buckets": 100}, headers=auth())).json()["peaks"]
    assert len(coarse) == 100
    assert all(-1 <= low <= high <= 1 for low, high in coarse)
    assert all(high > 0.7 and low < -0.7 for low, high in coarse[5:45])
    assert all(high < 0.1 and low > -0.1 for low, high in coarse[55:95])
    for bad in ("99", "4001", "x"):
        assert_problem(await client.get(url, params={"buckets": bad}, headers=auth()), 400)
    assert_problem(await client.get(url, params={"size": 256}, headers=auth()), 400)


async def test_pdf_first_page_thumbnail(engine, client, auth, create_asset):
    asset = await upload(create_asset, pdf_page(612, 792), "letter.pdf")
    await settled(engine, asset["asset_id"])
    url = f"/api/assets/{asset['asset_id']}/previews/thumbnail"
    assert picture(await client.get(url, headers=auth())).size == (198, 256)
    text = await upload(create_asset, b"just words\n", "notes.txt")
    assert text["previews"] == []
    assert_problem(
        await client.get(f"/api/assets/{text['asset_id']}/previews/thumbnail", headers=auth()),
        404,
    )


@needs_ffmpeg
async def test_a_file_that_breaks_its_renderer_fails_with_a_reason(
    engine, client, auth, create_asset, tmp_path
):
    asset = await upload(create_asset, undecodable_mp4(tmp_path), "broken.mp4")
    states = await settled(engine, asset["asset_id"])
    assert states["poster"].status == PreviewStatus.FAILED
    url = f"/api/assets/{asset['asset_id']}/previews/poster"
    problem = assert_problem(await client.get(url, headers=auth()), 422)
    assert "no frame could be decoded" in problem["detail"]
    document = (await client.get(f"/api/assets/{asset['asset_id']}", headers=auth())).json()
    assert document["previews"][0]["status"] == "failed"
    assert document["previews"][0]["reason"]
    download = await client.get(f"/api/assets/{asset['asset_id']}/download", headers=auth())
    assert download.status_code == 200  # the asset itself is untouched


class GatedThumbnails:
    """Replaces the image thumbnail by one that waits for the test to open the gate, so the
    preview is pending for as long as the test needs."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def render(self, request: Any) -> Any:
        if not self.gate.wait(timeout=30):
            raise RuntimeError("the test never opened the gate")
        return _pictures.image_thumbnail(request)

    @hookimpl
    def previewers(self, asset_type: str) -> list[Previewer]:
        return [Previewer("thumbnail", "image/webp", self.render)] if asset_type == "image" else []


@pytest.fixture
def gated(engine: AssetEngine) -> Iterator[GatedThumbnails]:
    plugin = GatedThumbnails()
    engine.inspector.register(plugin, "gated-thumbnails")  # type: ignore[attr-defined]
    try:
        yield plugin
    finally:
        plugin.gate.set()
        engine.inspector.unregister("gated-thumbnails")  # type: ignore[attr-defined]


async def test_pending_is_202_from_the_first_answer_then_200_also_through_a_signed_link(
    engine, client, auth, create_asset, gated
):
    asset = await upload(create_asset, rotated_jpeg(60, 40), "p.jpg")
    assert asset["previews"] == [
        {"kind": "thumbnail", "status": "pending", "media_type": "image/webp"}
    ]
    url = f"/api/assets/{asset['asset_id']}/previews/thumbnail"
    pending = await client.get(url, headers=auth())
    assert pending.status_code == 202
    assert pending.headers["retry-after"].isdigit()
    link = await client.get(
        f"/api/assets/{asset['asset_id']}/url",
        params={"preview": "thumbnail", "size": 128},
        headers=auth(),
    )
    assert link.status_code == 200, link.text
    signed = httpx.URL(link.json()["url"])
    assert (await client.get(signed)).status_code == 202
    gated.gate.set()
    await settled(engine, asset["asset_id"])
    assert picture(await client.get(signed)).size == (40, 60)  # never upscaled
    # Bound to its kind and size, and to its signature.
    params = dict(signed.params)
    for changed in ({"size": "256"}, {"signature": "0" * 64}):
        tampered = signed.copy_with(params={**params, **changed})
        assert_problem(await client.get(tampered), 403)
    other_kind = signed.copy_with(path=signed.path.replace("thumbnail", "poster"))
    assert_problem(await client.get(other_kind), 403)
    # Another customer sees neither the preview nor a link to it.
    globex = auth(user="mallory", customer="globex")
    assert_problem(await client.get(url, headers=globex), 404)
    link_for_globex = await client.get(
        f"/api/assets/{asset['asset_id']}/url", params={"preview": "thumbnail"}, headers=globex
    )
    assert_problem(link_for_globex, 404)
    assert_problem(await client.get(url), 401)


async def test_purge_removes_every_preview_blob(engine, client, auth, create_asset, settings):
    asset = await upload(create_asset, rotated_jpeg(64, 48), "gone.jpg")
    await settled(engine, asset["asset_id"])
    previews = [f for f in data_files(settings) if asset["asset_id"] in f and ".previews/" in f]
    assert len(previews) == 4
    admin = auth(roles=("admin",))
    response = await client.delete(
        f"/api/assets/{asset['asset_id']}", params={"permanent": "true"}, headers=admin
    )
    assert response.status_code == 204, response.text
    assert [f for f in data_files(settings) if asset["asset_id"] in f] == []
    assert await engine.catalog.previews_of(asset["asset_id"]) == []  # type: ignore[attr-defined]


async def test_previews_off_makes_none_and_answers_404(settings, nursery, make_token):
    off = replace(settings, previews="off", data_dir=settings.data_dir.parent / "off")
    async with running_engine(off) as engine:
        base = await start_server(nursery, engine, off)
        headers = {"Authorization": f"Bearer {make_token()}"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            files = {"file": ("p.png", small_png(), "image/png")}
            created = await client.post("/api/assets/upload", files=files, headers=headers)
            assert created.status_code == 201, created.text
            assert created.json()["previews"] == []
            url = f"/api/assets/{created.json()['asset_id']}/previews/thumbnail"
            assert_problem(await client.get(url, headers=headers), 404)
