"""Every format the built-in plugins take, made by the tests, uploaded over HTTP, and what the
asset JSON says checked against the file: durations within 50 ms of ffprobe's, dimensions
exact, page counts exact, DOCX title found. ``duration`` and ``dimensions`` are top-level
fields (the seed schema); everything else is under ``extracted``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.media import (
    FFPROBE,
    SVG_NS,
    TEXT,
    VIDEO_SIZE,
    docx_bytes,
    ffprobe_duration,
    image_bytes,
    jpeg_with_exif,
    pdf_bytes,
    svg,
    tiny_png,
    wav_bytes,
)

from .conftest import created

DURATION_TOLERANCE = 0.05


def assert_duration(asset: dict, path_or_seconds: Path | float) -> None:
    expected = (
        ffprobe_duration(path_or_seconds) if isinstance(path_or_seconds, Path) else path_or_seconds
    )
    assert asset["duration"] == pytest.approx(expected, abs=DURATION_TOLERANCE)


# --- audio ---------------------------------------------------------------------------------


async def test_wav(upload, tmp_path):
    content = wav_bytes(seconds=1.0, rate=8000, channels=2)
    asset = created(await upload(content, "tone.wav"))
    assert (asset["type"], asset["mime_type"]) == ("audio", "audio/wav")
    assert asset["storage"]["bucket"] == "audio-assets"
    path = tmp_path / "tone.wav"
    path.write_bytes(content)
    assert_duration(asset, path if FFPROBE else 1.0)
    extracted = asset["extracted"]
    assert extracted["format"] == "wav"
    assert extracted["codec"] == "pcm_s16le"
    assert (extracted["sample_rate"], extracted["channels"]) == (8000, 2)
    assert extracted["bitrate"] == 8000 * 2 * 16
    assert asset["dimensions"] is None


@pytest.mark.parametrize(
    ("name", "mime_type", "codec"),
    [
        ("mp3", "audio/mpeg", "mp3"),
        ("ogg", "audio/ogg", "vorbis"),
        ("opus", "audio/ogg", "opus"),
        ("flac", "audio/flac", "flac"),
    ],
)
async def test_compressed_audio(upload, ffmpeg_corpus, name, mime_type, codec):
    path = ffmpeg_corpus[name]
    # Sent as octet-stream under a misleading name: the bytes decide.
    asset = created(await upload(path.read_bytes(), "upload.bin", "application/octet-stream"))
    assert (asset["type"], asset["mime_type"]) == ("audio", mime_type)
    assert_duration(asset, path)
    extracted = asset["extracted"]
    assert (extracted["format"], extracted["codec"]) == (name, codec)
    assert (extracted["sample_rate"], extracted["channels"]) == (48000, 1)
    assert extracted["bitrate"] > 0
    assert extracted["tags"] == {"title": "Test tone", "artist": "The Tests", "album": "Corpus"}


async def test_audio_library_takes_audio_with_its_fields(upload, ffmpeg_corpus):
    path = ffmpeg_corpus["mp3"]
    asset = created(await upload(path.read_bytes(), "tone.mp3", url="/api/audio-library"))
    assert asset["type"] == "audio"
    assert_duration(asset, path)
    assert asset["extracted"]["bitrate"] == 64000


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime_type", "mode", "size"),
    [
        ("PNG", "image/png", "RGBA", (7, 5)),
        ("JPEG", "image/jpeg", "RGB", (33, 17)),
        ("WEBP", "image/webp", "RGB", (20, 30)),
        ("GIF", "image/gif", "P", (9, 4)),
    ],
)
async def test_raster_images(upload, fmt, mime_type, mode, size):
    content = image_bytes(fmt, *size, mode="RGBA" if fmt == "PNG" else "RGB")
    # A PNG declared image/jpeg is still an image, and stored as what it is.
    asset = created(await upload(content, "picture", "image/jpeg"))
    assert (asset["type"], asset["mime_type"]) == ("image", mime_type)
    assert asset["storage"]["bucket"] == "image-assets"
    assert asset["dimensions"] == {"width": size[0], "height": size[1]}
    assert asset["extracted"]["mode"] == mode
    assert asset["extracted"]["format"] == fmt.lower()
    assert asset["duration"] is None


async def test_jpeg_exif_subset_without_gps(upload):
    asset = created(await upload(jpeg_with_exif(32, 24), "photo.jpg"))
    extracted = asset["extracted"]
    assert asset["dimensions"] == {"width": 32, "height": 24}
    assert extracted["orientation"] == 6
    assert extracted["camera"] == {"make": "TestCam", "model": "Model 7"}
    assert extracted["taken_at"] == "2024-05-17T10:20:30"
    assert "gps" not in extracted  # a position is only read when configured


@pytest.mark.parametrize(
    ("root_attributes", "dimensions"),
    [
        ('width="120" height="80"', {"width": 120, "height": 80}),
        ('width="2in" height="1in"', {"width": 192, "height": 96}),
        ('viewBox="0 0 300 150"', {"width": 300, "height": 150}),
        ('width="100%" height="100%" viewBox="0 0 40 20"', {"width": 40, "height": 20}),
    ],
)
async def test_svg(upload, root_attributes, dimensions):
    content = svg(
        '<a href="#r"><use href="#r"/></a>',
        root_attributes=root_attributes,
        prolog=(
            '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
            '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        ),
    )
    asset = created(await upload(content, "drawing.svg", "image/svg+xml"))
    assert (asset["type"], asset["mime_type"]) == ("image", "image/svg+xml")
    assert asset["dimensions"] == dimensions
    assert asset["extracted"]["title"] == "A test drawing"


async def test_svg_with_embedded_raster_image_is_accepted(upload):
    png = base64.b64encode(tiny_png()).decode()
    content = (
        f'<svg {SVG_NS} xmlns:xlink="http://www.w3.org/1999/xlink" width="1" height="1">'
        f'<image xlink:href="data:image/png;base64,{png}" width="1" height="1"/></svg>'
    ).encode()
    asset = created(await upload(content, "embedded.svg"))
    assert asset["dimensions"] == {"width": 1, "height": 1}


# --- video ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mime_type", "video_codec", "audio_codec"),
    [
        ("mp4", "video/mp4", "h264", "aac"),
        ("webm", "video/webm", "vp8", "opus"),
        ("avi", "video/x-msvideo", "mpeg4", "pcm_s16le"),
    ],
)
async def test_video(upload, ffmpeg_corpus, name, mime_type, video_codec, audio_codec):
    path = ffmpeg_corpus[name]
    asset = created(await upload(path.read_bytes(), f"clip.{name}", mime_type))
    assert (asset["type"], asset["mime_type"]) == ("video", mime_type)
    assert asset["storage"]["bucket"] == "video-assets"
    assert_duration(asset, path)
    assert asset["dimensions"] == {"width": VIDEO_SIZE[0], "height": VIDEO_SIZE[1]}
    extracted = asset["extracted"]
    assert (extracted["video_codec"], extracted["audio_codec"]) == (video_codec, audio_codec)
    assert extracted["frame_rate"] == 10.0
    assert extracted["bitrate"] > 0


# --- documents -----------------------------------------------------------------------------


@pytest.mark.parametrize("pages", [1, 4])
async def test_pdf(upload, pages):
    content = pdf_bytes(pages, title="Quarterly report", author="Ada")
    asset = created(await upload(content, "report.pdf", "application/pdf"))
    assert (asset["type"], asset["mime_type"]) == ("document", "application/pdf")
    assert asset["storage"]["bucket"] == "document-assets"
    extracted = asset["extracted"]
    assert extracted["pages"] == pages
    assert (extracted["title"], extracted["author"]) == ("Quarterly report", "Ada")
    assert extracted["encrypted"] is False


async def test_docx(upload):
    content = docx_bytes("Meeting notes", ("Five words in this paragraph.", "And\tthree more.", ""))
    asset = created(await upload(content, "notes.docx"))
    assert asset["type"] == "document"
    assert asset["mime_type"].endswith("wordprocessingml.document")
    extracted = asset["extracted"]
    assert extracted["title"] == "Meeting notes"
    assert extracted["author"] == "Grace"
    assert extracted["words"] == 8


@pytest.mark.parametrize(
    ("content", "encoding", "lines", "words"),
    [
        (TEXT, "utf-8", 40, 280),
        ("naïve café\nzweite Zeile ohne Ende".encode(), "utf-8", 2, 6),
        ("\ufeffmit BOM\n".encode(), "utf-8", 1, 2),
        ("Grüße aus Köln\n".encode("cp1252"), "windows-1252", 1, 3),
        ("utf-16 text\nline two\n".encode("utf-16"), None, 2, 4),
    ],
)
async def test_txt(upload, content, encoding, lines, words):
    asset = created(await upload(content, "notes.txt", "text/plain"))
    assert (asset["type"], asset["mime_type"]) == ("document", "text/plain")
    extracted = asset["extracted"]
    if encoding:
        assert extracted["encoding"] == encoding
    else:
        assert extracted["encoding"].startswith("utf-16")
    assert (extracted["lines"], extracted["words"]) == (lines, words)
