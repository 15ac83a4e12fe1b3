"""The preview actor on every blob store and catalog: previews made after the commit, a
failure stored with its reason and never retried, a rendering past its time, pending work
found again by a new engine, and the cleanup's orphan sweep over preview blobs."""

from __future__ import annotations

import threading

import pytest
import trio

from asset_service.engine.preview_store import preview_key
from asset_service.engine.preview_types import (
    Previewer,
    PreviewRequest,
    PreviewState,
    PreviewStatus,
    RenderedPreview,
)
from asset_service.engine.previews import PreviewSettings

from .conftest import EDITOR
from .inspectors import TinyInspector
from .test_cleanup_actor import keys
from .test_upload_actor import spec, upload


class PreviewingInspector(TinyInspector):
    """Text gets a ``copy`` preview (its first bytes); ``FAIL`` in the text breaks the
    renderer, ``SLOW`` makes it outlast any timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.renders = 0
        self.release = threading.Event()

    def render(self, request: PreviewRequest) -> list[RenderedPreview]:
        self.renders += 1
        data = request.source.read_bytes()
        if b"FAIL" in data:
            raise ValueError("the renderer choked on FAIL")
        if b"SLOW" in data:
            self.release.wait(10)
        path = request.out_dir / "copy"
        path.write_bytes(data[:8])
        return [RenderedPreview("head", path)]

    def previewers(self, asset_type: str, mime_type: str) -> list[Previewer]:
        if asset_type == "document":
            return [Previewer("copy", "text/plain", self.render)]
        return []


async def settled(engine, asset_id: str, version: int = 1) -> PreviewState:
    with trio.fail_after(30):
        async with engine.hub.subscribe() as events:
            while True:
                [state] = await engine.catalog.previews_of(asset_id, version)
                if state.status != PreviewStatus.PENDING:
                    return state
                async for event in events:
                    if event.name.startswith("asset.preview_"):
                        break


@pytest.fixture
def inspector() -> PreviewingInspector:
    return PreviewingInspector()


async def read(engine, key: str) -> bytes:
    return b"".join([chunk async for chunk in engine.store.read("document-assets", key)])


async def test_made_after_the_commit_and_stored_beside_the_version(open_test_engine):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: hello there"])
        state = await settled(engine, asset.asset_id)
        assert state.status == PreviewStatus.READY
        [variant] = state.variants
        assert variant.storage_key == preview_key(asset.storage.key, "copy", "head")
        assert await read(engine, variant.storage_key) == b"TXT: hel"


async def test_a_failure_is_stored_with_its_reason_and_never_retried(open_test_engine, inspector):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: FAIL"])
        state = await settled(engine, asset.asset_id)
        assert (state.status, state.reason) == (PreviewStatus.FAILED, "the renderer choked on FAIL")
        again = await engine._previews.make(asset.asset_id, 1)
        assert [s.status for s in again] == [PreviewStatus.FAILED]
        assert inspector.renders == 1
        assert (await engine.get(EDITOR, asset.asset_id)).revision == asset.revision


async def test_a_rendering_past_its_time_fails(open_test_engine, inspector):
    try:
        async with open_test_engine(previews=PreviewSettings(timeout=0.2)) as engine:
            asset = await upload(engine, [b"TXT: SLOW"])
            state = await settled(engine, asset.asset_id)
            assert (state.status, state.reason) == (PreviewStatus.FAILED, "took longer than 0.2 s")
    finally:
        inspector.release.set()


async def test_pending_work_is_found_again_by_the_next_engine(open_test_engine):
    async with open_test_engine(previews=PreviewSettings(enabled=False)) as engine:
        asset = await upload(engine, [b"TXT: made later"])
        # What a crash right after the commit leaves: the pending state, no preview.
        pending = PreviewState(asset.asset_id, 1, "copy", "acme", "text/plain")
        await engine.catalog.expect_previews([pending])
    async with open_test_engine() as engine:
        assert (await settled(engine, asset.asset_id)).status == PreviewStatus.READY


async def test_the_orphan_sweep_removes_the_previews_of_pruned_versions(open_test_engine):
    async with open_test_engine(max_versions=1, temp_ttl=0) as engine:
        asset = await upload(engine, [b"TXT: one"])
        await settled(engine, asset.asset_id)
        await upload(engine, [b"TXT: two"], target_asset_id=asset.asset_id)
        await settled(engine, asset.asset_id, 2)
        prefix = f"acme/{asset.asset_id}/"
        assert [k for k in await keys(engine.store, "document-assets") if k.startswith(prefix)] == [
            f"{prefix}v1.previews/copy-head",
            f"{prefix}v2",
            f"{prefix}v2.previews/copy-head",
        ]
        report = await engine.run_cleanup()
        assert report.orphans_removed == 1
        assert [k for k in await keys(engine.store, "document-assets") if k.startswith(prefix)] == [
            f"{prefix}v2",
            f"{prefix}v2.previews/copy-head",
        ]


async def test_previews_wait_for_the_uploads_running_here(open_test_engine, inspector):
    settings = PreviewSettings(yield_to_uploads=3600)
    async with open_test_engine(previews=settings) as engine:
        async with await engine.begin_upload(spec()) as running:
            await running.write(b"TXT: still arriving")
            asset = await upload(engine, [b"TXT: previewed later"])
            with trio.move_on_after(0.5):
                await settled(engine, asset.asset_id)
            [state] = await engine.catalog.previews_of(asset.asset_id, 1)
            assert (state.status, inspector.renders) == (PreviewStatus.PENDING, 0)
        # The running upload ends (abandoned here): the preview is made at once.
        assert (await settled(engine, asset.asset_id)).status == PreviewStatus.READY


async def test_a_stream_of_uploads_delays_previews_by_a_bounded_time(open_test_engine):
    settings = PreviewSettings(yield_to_uploads=0.2)
    async with open_test_engine(previews=settings) as engine:
        running = await engine.begin_upload(spec())
        async with running:
            await running.write(b"TXT: still arriving")
            asset = await upload(engine, [b"TXT: previewed anyway"])
            assert (await settled(engine, asset.asset_id)).status == PreviewStatus.READY
