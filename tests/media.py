"""Test media made on the spot: a real, small file of every format the built-in plugins take
(Pillow, ``wave``, pypdf, python-docx, and the ffmpeg CLI for compressed audio and video), and
the hostile files that must be refused. Nothing is checked in: every test makes what it needs.
"""

from __future__ import annotations

import io
import json
import math
import random
import shutil
import struct
import subprocess
import wave
import zipfile
import zlib
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
NO_FFMPEG_REASON = (
    "ffmpeg/ffprobe not installed: video (and compressed audio) tests skip "
    "(`make test` installs Debian's ffmpeg when run as root)"
)
needs_ffmpeg = pytest.mark.skipif(not (FFMPEG and FFPROBE), reason=NO_FFMPEG_REASON)

# --- images ---------------------------------------------------------------------------------


def image_bytes(
    fmt: str = "PNG", width: int = 4, height: int = 3, *, mode: str = "RGB", **save: object
) -> bytes:
    """A real image made by Pillow (a gradient, so encoders have something to encode)."""
    from PIL import Image

    image = Image.new(mode, (width, height))
    if mode in ("RGB", "RGBA"):
        image.putdata(
            [
                (x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 128, 255)[: len(mode)]
                for y in range(height)
                for x in range(width)
            ]
        )
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def tiny_png() -> bytes:
    return image_bytes("PNG", 4, 3)


def jpeg_with_exif(width: int = 32, height: int = 24) -> bytes:
    """A JPEG whose EXIF names a camera, a time, an orientation and a GPS position."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x0112] = 6  # Orientation: rotate 90° CW
    exif.get_ifd(0x8769)[0x9003] = "2024:05:17 10:20:30"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.0)
    return image_bytes("JPEG", width, height, exif=exif)


def padded_png(size: int, seed: int) -> bytes:
    """A valid 1x1 PNG of exactly ``size`` bytes (at least 69): an ancillary private chunk
    of seeded filler makes up the rest, so different seeds give different files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x7f"))
    iend = chunk(b"IEND", b"")
    fixed = 8 + len(ihdr) + len(idat) + len(iend) + 12
    filler = bytes((seed + i) % 251 for i in range(251))
    pad = (filler * (max(size - fixed, 0) // 251 + 1))[: max(size - fixed, 0)]
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"teSt", pad) + idat + iend


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A real PNG declaring ``width``x``height`` 1-bit pixels (400 MP by default), all zero:
    ~50 KB on the wire, hundreds of MB once decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )


SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


def svg(
    inner: str = "", *, root_attributes: str = 'width="120" height="80"', prolog: str = ""
) -> bytes:
    return (
        f"{prolog}<svg {SVG_NS} {root_attributes}>"
        f'<title>A test drawing</title><rect x="1" y="1" width="10" height="10" fill="red"/>'
        f"{inner}</svg>\n"
    ).encode()


SVG_WITH_SCRIPT = svg("<script>alert(document.cookie)</script>")
SVG_WITH_ONLOAD = svg(root_attributes='width="10" height="10" onload="alert(1)"')
SVG_WITH_EXTERNAL_ENTITY = svg(
    "<text>&xxe;</text>",
    prolog='<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
)
SVG_BILLION_LAUGHS = svg(
    "<text>&lol9;</text>",
    prolog=(
        '<?xml version="1.0"?>\n<!DOCTYPE svg [\n<!ENTITY lol "lol">\n'
        + "".join(
            f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'
            for n in range(1, 10)
        )
        + "]>\n"
    ),
)

# --- audio ----------------------------------------------------------------------------------


def wav_bytes(seconds: float = 1.0, rate: int = 8000, channels: int = 1) -> bytes:
    """A 16-bit PCM sine, written with the standard library's ``wave``."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * n / rate))) * channels
        for n in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


# --- documents ------------------------------------------------------------------------------


def pdf_bytes(pages: int = 3, *, title: str = "Quarterly report", author: str = "Ada") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": title, "/Author": author})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(title: str = "Meeting notes", paragraphs: tuple[str, ...] = ()) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = "Grace"
    for paragraph in paragraphs or ("Five words in this paragraph.", "And three more."):
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_with_member(name: str, data: bytes | str) -> bytes:
    """A valid DOCX with one more archive member (a macro part, an HTML page…)."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member in source.namelist():
            archive.writestr(member, source.read(member))
        archive.writestr(name, data)
    return out.getvalue()


def docx_zip_bomb(zeros: int = 64 * 1024 * 1024) -> bytes:
    """A DOCX (valid parts) carrying ``zeros`` bytes of zeros that deflate ~1000:1."""
    base = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in base.infolist():
            bomb.writestr(info.filename, base.read(info.filename))
        with bomb.open("word/media/image1.bin", "w") as entry:
            block = b"\x00" * (1024 * 1024)
            for _ in range(zeros // len(block)):
                entry.write(block)
    return out.getvalue()


TEXT = b"".join(b"line %04d of a plain text file\n" % n for n in range(40))


def random_bytes(size: int = 4096, seed: int = 7) -> bytes:
    """Seeded, so a failure replays; begins with no known signature."""
    data = random.Random(seed).randbytes(size)
    return b"\x00\x13" + data[2:]


# --- glTF binary (the example plugin's format) ----------------------------------------------


def glb_bytes(vertices: int = 3, generator: str = "tests") -> bytes:
    """A GLB 2.0: one mesh of one triangle list with ``vertices`` positions."""
    positions = struct.pack(f"<{3 * vertices}f", *([0.0, 0.0, 0.0] * vertices))
    gltf = {
        "asset": {"version": "2.0", "generator": generator},
        "buffers": [{"byteLength": len(positions)}],
        "bufferViews": [{"buffer": 0, "byteLength": len(positions)}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": vertices, "type": "VEC3"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
    }
    json_chunk = json.dumps(gltf).encode()
    json_chunk += b" " * (-len(json_chunk) % 4)
    bin_chunk = positions + b"\x00" * (-len(positions) % 4)
    body = (
        struct.pack("<I4s", len(json_chunk), b"JSON")
        + json_chunk
        + struct.pack("<I4s", len(bin_chunk), b"BIN\x00")
        + bin_chunk
    )
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


# --- ffmpeg-made media ----------------------------------------------------------------------

#: name → (file name, ffmpeg arguments after the inputs); each about one second
FFMPEG_AUDIO = {
    "mp3": ("tone.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
    "ogg": ("tone.ogg", ["-c:a", "libvorbis"]),
    "opus": ("tone.opus", ["-c:a", "libopus", "-b:a", "48k"]),
    "flac": ("tone.flac", ["-c:a", "flac"]),
}
FFMPEG_VIDEO = {
    "mp4": ("clip.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    "webm": ("clip.webm", ["-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus"]),
    "avi": ("clip.avi", ["-c:v", "mpeg4", "-c:a", "pcm_s16le"]),
}
VIDEO_SIZE = (64, 48)


def ffmpeg(arguments: list[str]) -> None:
    assert FFMPEG is not None, NO_FFMPEG_REASON
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", *arguments], check=True, timeout=60, stdin=subprocess.DEVNULL
    )


def make_audio(directory: Path, name: str) -> Path:
    filename, codec = FFMPEG_AUDIO[name]
    path = directory / filename
    ffmpeg(
        [
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1"),
            *("-ac", "1", "-metadata", "title=Test tone", "-metadata", "artist=The Tests"),
            *("-metadata", "album=Corpus", *codec, str(path)),
        ]
    )
    return path


def make_video(directory: Path, name: str) -> Path:
    filename, codecs = FFMPEG_VIDEO[name]
    path = directory / filename
    width, height = VIDEO_SIZE
    ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=10:duration=1"),
            *("-f", "lavfi", "-i", "sine=frequency=440:duration=1"),
            *("-shortest", *codecs, str(path)),
        ]
    )
    return path


def ffprobe_duration(path: Path) -> float:
    assert FFPROBE is not None, NO_FFMPEG_REASON
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return float(json.loads(done.stdout)["format"]["duration"])
