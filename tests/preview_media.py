"""The small corpus the preview tests render: made on the spot, each with a property its
preview must show (an EXIF rotation, a first frame, a fade from black, loud then quiet)."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

from tests.media import ffmpeg


def rotated_jpeg(width: int = 600, height: int = 400) -> bytes:
    """Landscape pixels whose EXIF says "rotate 90°": the thumbnail is portrait."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    image = Image.new("RGB", (width, height), (200, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=85)
    return out.getvalue()


def small_png(width: int = 100, height: int = 50) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 255, 200)).save(out, "PNG")
    return out.getvalue()


def two_frame_gif() -> bytes:
    """Red, then blue: the thumbnail is of the red frame."""
    from PIL import Image

    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def loud_then_quiet_wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A 440 Hz sine at 0.8 for the first half, 0.05 for the second."""
    frames = int(seconds * rate)
    half = frames // 2
    samples = b"".join(
        struct.pack(
            "<h", int(32767 * (0.8 if n < half else 0.05) * math.sin(2 * math.pi * 440 * n / rate))
        )
        for n in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


def fading_mp4(directory: Path) -> bytes:
    """3 s of a test pattern whose first frames are black (a fade in)."""
    path = directory / "fade.mp4"
    ffmpeg(
        [
            *("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=3"),
            *("-vf", "fade=in:0:2", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)),
        ]
    )
    return path.read_bytes()


def undecodable_mp4(directory: Path) -> bytes:
    """An MP4 whose container is sound (ffprobe reads it: it passes validation) but whose
    frames are zeros: no frame decodes."""
    data = bytearray(fading_mp4(directory))
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    return bytes(data)


def pdf_page(width: float = 612, height: float = 792) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=width, height=height)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
