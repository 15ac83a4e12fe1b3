"""The ``previewers`` hook: every plugin's previewers collected, the later plugin's kind
winning, a failing or confused plugin offering none instead of breaking the others; what the
built-ins offer; and their renderers on files made here."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from asset_service.engine.preview_types import NoPreview, Previewer, PreviewRequest
from asset_service.plugins import hookimpl
from asset_service.plugins.builtin import _media_previews, _pictures
from asset_service.plugins.errors import PluginConfigError
from asset_service.plugins.loading import load_plugins
from tests.media import needs_ffmpeg
from tests.preview_media import loud_then_quiet_wav, pdf_page, rotated_jpeg


def kinds(previewers: list[Previewer]) -> list[tuple[str, str]]:
    return [(p.kind, p.media_type) for p in previewers]


def test_what_the_built_ins_offer():
    inspector = load_plugins(installed=False)
    assert kinds(inspector.previewers("image", "image/jpeg")) == [("thumbnail", "image/webp")]
    assert kinds(inspector.previewers("video", "video/mp4")) == [("poster", "image/webp")]
    assert kinds(inspector.previewers("audio", "audio/mpeg")) == [("waveform", "application/json")]
    assert kinds(inspector.previewers("document", "application/pdf")) == [
        ("thumbnail", "image/webp")
    ]
    assert inspector.previewers("document", "text/plain") == []


class Sketches:
    @hookimpl
    def previewers(self, asset_type, mime_type):
        if asset_type == "image":
            return [Previewer("thumbnail", "image/png", lambda request: [])]
        return None


class Broken:
    @hookimpl
    def previewers(self):
        raise RuntimeError("bug")


class Confused:
    @hookimpl
    def previewers(self):
        return ["not a previewer"]


def test_every_plugin_is_asked_the_later_one_first_and_a_failing_one_is_skipped():
    inspector = load_plugins(installed=False)
    inspector.register(Broken(), "broken")
    inspector.register(Confused(), "confused")
    inspector.register(Sketches(), "sketches")
    found = inspector.previewers("image", "image/png")
    assert kinds(found) == [("thumbnail", "image/png"), ("thumbnail", "image/webp")]
    assert inspector.previewers("audio", "audio/wav")[0].kind == "waveform"


def test_the_hook_may_not_be_a_wrapper():
    class Wrapper:
        @hookimpl(wrapper=True)
        def previewers(self):
            return (yield)

    inspector = load_plugins(installed=False)
    with pytest.raises(PluginConfigError, match="previewers may not be a hook wrapper"):
        inspector.register(Wrapper(), "wrapper")


def request_for(tmp_path: Path, data: bytes, name: str) -> PreviewRequest:
    source = tmp_path / name
    source.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    return PreviewRequest(source, out, "application/octet-stream", 30.0)


def test_thumbnail_sizes_keep_the_aspect_within_a_pixel(tmp_path):
    rendered = _pictures.image_thumbnail(request_for(tmp_path, rotated_jpeg(3000, 2000), "a.jpg"))
    for item in rendered:
        with Image.open(item.path) as image:
            assert image.size == (item.width, item.height)
            assert max(image.size) == min(int(item.variant), 3000)
            assert abs(image.width / image.height - 2000 / 3000) * image.height <= 1


def test_pdf_first_page(tmp_path):
    [*_, largest] = sorted(
        _pictures.pdf_thumbnail(request_for(tmp_path, pdf_page(200, 100), "a.pdf")),
        key=lambda item: int(item.variant),
    )
    assert (largest.width, largest.height) == (1024, 512)
    assert Image.open(io.BytesIO(largest.path.read_bytes())).getpixel((5, 5))[:3] == (
        255,
        255,
        255,
    )


def test_svg_without_a_renderer_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(_pictures, "svg_renderer", lambda: None)
    with pytest.raises(NoPreview, match="no SVG renderer"):
        _pictures.svg_thumbnail(request_for(tmp_path, b"<svg/>", "a.svg"))


@needs_ffmpeg
def test_waveform_bucket_merging_and_streamed_decoding(tmp_path):
    [item] = _media_previews.audio_waveform(
        request_for(tmp_path, loud_then_quiet_wav(seconds=1.0), "a.wav")
    )
    document = json.loads(item.path.read_text())
    assert len(document["peaks"]) == 4000
    merged = _media_previews.merge_peaks(document["peaks"], 10)
    assert len(merged) == 10
    assert merged[0][1] > 0.7 and merged[-1][1] < 0.1


def test_without_ffmpeg_no_poster_and_a_clear_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(_media_previews.shutil, "which", lambda name: None)
    with pytest.raises(NoPreview, match=r"ff(mpeg|probe) is not installed"):
        _media_previews.video_poster(request_for(tmp_path, b"\x00" * 64, "a.mp4"))
