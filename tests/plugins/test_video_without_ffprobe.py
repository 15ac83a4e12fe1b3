"""Without ffprobe, video is stored unchecked and without its fields (the video plugin says so
once when it is loaded): the service keeps working on a machine without ffmpeg."""

from __future__ import annotations

import pytest

from tests.conftest import with_settings

from .conftest import created

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 100


@pytest.fixture
def settings(settings, tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text('[plugins.video.options]\nffprobe = "no-such-ffprobe-here"\n')
    return with_settings(settings, plugins_config=config)


async def test_video_is_stored_without_its_fields(upload, engine):
    assert engine.inspector.plugins["video"].plugin.available is False
    asset = created(await upload(MP4_HEAD, "v.mp4"))
    assert (asset["type"], asset["mime_type"]) == ("video", "video/mp4")
    assert (asset["duration"], asset["dimensions"]) == (None, None)
    assert asset["extracted"] == {"format": "mp4"}
