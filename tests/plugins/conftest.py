"""Fixtures of the plugin tests: the ffmpeg-made corpus (once per session), uploads over HTTP
through the app on a real Hypercorn (``tests/conftest.py``), and the no-leftovers check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from tests.api.conftest import Leftovers
from tests.api.helpers import Part, file_part, multipart, multipart_type
from tests.media import FFMPEG, FFMPEG_AUDIO, FFMPEG_VIDEO, FFPROBE, NO_FFMPEG_REASON

Upload = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture(scope="session")
def ffmpeg_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every ffmpeg-made format (``mp3``, ``ogg``, ``opus``, ``flac``, ``mp4``, ``webm``,
    ``avi``), made once; the test skips without ffmpeg."""
    if not (FFMPEG and FFPROBE):
        pytest.skip(NO_FFMPEG_REASON)
    from tests.media import make_audio, make_video

    directory = tmp_path_factory.mktemp("ffmpeg-corpus")
    corpus = {name: make_audio(directory, name) for name in FFMPEG_AUDIO}
    corpus.update({name: make_video(directory, name) for name in FFMPEG_VIDEO})
    return corpus


@pytest.fixture
def upload(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> Upload:
    """``await upload(content, filename, content_type=None, url=..., **form)`` → response."""

    async def post(
        content: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        url: str = "/api/assets/upload",
        **form: str,
    ) -> httpx.Response:
        parts = [Part(name, value) for name, value in form.items()]
        parts.append(file_part(content, filename, content_type))
        headers = {**auth(), "Content-Type": multipart_type()}
        return await client.post(url, headers=headers, content=multipart(parts))

    return post


@pytest.fixture
async def leftovers(engine: AssetEngine, settings: Settings, base_url: str) -> Leftovers:
    tracker = Leftovers(engine, settings)
    await tracker.snapshot()
    return tracker


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()
