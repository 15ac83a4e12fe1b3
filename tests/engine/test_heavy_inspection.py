"""Heavy inspection (decoding a large image, probing a video) runs at most
``EngineConfig.heavy_inspections`` at a time (``ASSET_HEAVY_INSPECTIONS``), on a limiter of its
own: light inspections (text) are not held up behind it. Memory is measured in
``bench/heavy_inspection_memory.py``, not here."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio

from asset_service.engine import UploadSpec
from asset_service.engine.inspection import Detected
from asset_service.engine.memory import release_freed_memory

from .conftest import EDITOR
from .inspectors import TinyInspector

HEAVY = Detected("image", "image/x-test", "img", heavy=True)
#: uploads started at once, more than the limit
UPLOADS = 5


class CountingInspector(TinyInspector):
    """``HEAVY:`` content is a heavy image whose validation blocks until ``release`` is set;
    it counts how many run at once and tells the test (``entered``) of each one that starts."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.most_at_once = 0
        self.entered_send, self.entered = trio.open_memory_channel[int](UPLOADS)

    def sniff(self, head: bytes, filename: str) -> Detected | None:
        return HEAVY if head.startswith(b"HEAVY:") else super().sniff(head, filename)

    def validate(self, path: Path, detected: Detected) -> None:
        if not detected.heavy:
            return super().validate(path, detected)
        with self.lock:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
            now = self.active
        try:
            trio.from_thread.run_sync(self.entered_send.send_nowait, now)
            # bounded: a test that never releases fails instead of hanging
            assert self.release.wait(timeout=30), "never released"
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def inspector() -> CountingInspector:
    return CountingInspector()


async def upload(engine, content: bytes) -> None:
    spec = UploadSpec(principal=EDITOR, filename="a.img", max_bytes=1 << 20)
    async with await engine.begin_upload(spec) as handle:
        await handle.write(content)
        await handle.commit(None)


@pytest.mark.parametrize("limit", [1, 2])
async def test_heavy_inspections_are_bounded_and_light_ones_pass(
    open_test_engine, inspector: CountingInspector, limit: int
):
    async with open_test_engine(heavy_inspections=limit) as engine:
        async with trio.open_nursery() as nursery:
            for n in range(UPLOADS):
                nursery.start_soon(upload, engine, b"HEAVY:%d" % n)
            with trio.fail_after(10):
                for _ in range(limit):
                    await inspector.entered.receive()
                # the limiter is full: a text upload still goes through at once
                await upload(engine, b"TXT: light\n")
            with pytest.raises(trio.WouldBlock):
                inspector.entered.receive_nowait()
            inspector.release.set()
        assert inspector.most_at_once == limit


def test_heavy_inspections_must_be_at_least_one():
    from asset_service.engine.engine import EngineConfig

    with pytest.raises(ValueError, match="heavy_inspections"):
        EngineConfig(heavy_inspections=0)


def test_releasing_freed_memory_is_safe_to_call():
    release_freed_memory()  # glibc's malloc_trim where there is one; nothing elsewhere
