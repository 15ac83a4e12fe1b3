"""The built-in ``image`` plugin: PNG, JPEG, WEBP and GIF with Pillow, SVG with defusedxml.

Found: dimensions, mode, orientation, and a safe subset of EXIF (camera make and model, lens,
when the picture was taken; GPS position only with ``gps = true``). Refused: images of more
pixels than ``max_pixels`` (decompression bombs), files Pillow cannot decode completely
(truncated, corrupt), and SVG that could run code or fetch anything (see ``_svg``).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from asset_service.engine.errors import UnprocessableContent
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import AssetType, Dimensions
from asset_service.engine.preview_types import Previewer

from ..hookspecs import hookimpl
from . import _pictures, _svg
from ._common import clean_text, reason_of
from ._text import decode_head, markup_kind

PNG = Detected("image", "image/png", "png", heavy=True)
JPEG = Detected("image", "image/jpeg", "jpeg", heavy=True)
WEBP = Detected("image", "image/webp", "webp", heavy=True)
GIF = Detected("image", "image/gif", "gif", heavy=True)
SVG = Detected("image", "image/svg+xml", "svg", heavy=True)

MIME_TYPES = (
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/pjpeg",
    "image/webp",
    "image/gif",
    "image/svg+xml",
)
EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif", "svg")
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
#: what decoding may raise on a broken file
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
)

# EXIF tags
_ORIENTATION, _MAKE, _MODEL, _DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _LENS_MODEL = 0x9003, 0xA434
_EXIF_TIME = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def detect(head: bytes) -> Detected | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:1] in (b"<", b"\xef", b"\xff", b"\xfe", b" ", b"\t", b"\r", b"\n"):
        text = decode_head(head)
        if text is not None and markup_kind(text.text) == "svg":
            return SVG
    return None


def _exif_time(value: Any) -> str | None:
    text = clean_text(value, 40)
    match = _EXIF_TIME.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = match.groups()
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}"


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = degrees + minutes / 60 + seconds / 3600
    if clean_text(ref, 2) in ("S", "W"):
        result = -result
    return round(result, 7)


@dataclass
class ImagePlugin:
    """Options (``[plugins.image.options]`` in plugins.toml):

    - ``max_pixels``: width x height above which an image is refused as a decompression bomb
      (default 80 000 000). Validation decodes the image once, so peak memory per upload is
      about 4 bytes x this. Above Pillow's own limit (about 89 MP), Pillow's process-wide
      ``Image.MAX_IMAGE_PIXELS`` is raised to it.
    - ``gps``: also extract the GPS position from EXIF (default false: a position is personal
      data, and every user of the customer can read ``extracted``).
    - ``max_svg_bytes``: the largest SVG accepted (default 16 MiB): SVG is parsed in memory.
    - ``max_size``: the largest image file accepted, in bytes (default: the upload limit).
    """

    max_pixels: int = 80_000_000
    gps: bool = False
    max_svg_bytes: int = 16 * 1024 * 1024
    max_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be at least 1")
        if self.max_svg_bytes < 1:
            raise ValueError("max_svg_bytes must be at least 1")
        if Image.MAX_IMAGE_PIXELS is not None and self.max_pixels > Image.MAX_IMAGE_PIXELS:
            Image.MAX_IMAGE_PIXELS = self.max_pixels

    @hookimpl
    def asset_types(self) -> list[AssetType]:
        return [AssetType("image", "image-assets", MIME_TYPES, EXTENSIONS, self.max_size)]

    @hookimpl
    def sniff(self, head: bytes) -> Detected | None:
        return detect(head)

    @hookimpl
    def previewers(self, asset_type: str, mime_type: str) -> list[Previewer]:
        """``thumbnail`` (WEBP, 128-1024 px); SVG only where ``rsvg-convert`` is installed
        (otherwise the thumbnail fails with that reason)."""
        if asset_type != "image":
            return []
        if mime_type == "image/svg+xml":
            return [Previewer("thumbnail", "image/webp", _pictures.svg_thumbnail)]
        return [Previewer("thumbnail", "image/webp", _pictures.image_thumbnail)]

    # --- validation --------------------------------------------------------------------

    def _open(self, path: Path, detected: Detected) -> Image.Image:
        name = detected.format.upper()
        try:
            image = Image.open(path, formats=[_PIL_FORMATS[detected.format]])
        except Image.DecompressionBombError as error:
            pixels = re.search(r"\((\d+) pixels\)", str(error))
            raise self._bomb(int(pixels.group(1)) if pixels else None) from None
        except UnidentifiedImageError:
            raise UnprocessableContent(f"the {name} image is broken: unreadable header") from None
        except _DECODE_ERRORS as error:
            raise UnprocessableContent(
                f"the {name} image is broken: {reason_of(error, path)}"
            ) from None
        width, height = image.size
        if width < 1 or height < 1:
            image.close()
            raise UnprocessableContent(f"the {name} image has no pixels ({width}x{height})")
        if width * height > self.max_pixels:
            image.close()
            raise self._bomb(width * height, f"{width}x{height} = ")
        return image

    def _bomb(self, pixels: int | None, size: str = "") -> UnprocessableContent:
        declared = f"{size}{pixels} pixels" if pixels else "more pixels than that"
        return UnprocessableContent(
            f"the image declares {declared}, over the limit of {self.max_pixels} pixels: "
            "refused as a possible decompression bomb"
        )

    @hookimpl
    def validate(self, path: Path, detected: Detected) -> None:
        if detected.type != "image":
            return
        if detected.format == "svg":
            _svg.parse(path, self.max_svg_bytes)
            return
        if detected.format not in _PIL_FORMATS:
            return
        name = detected.format.upper()
        try:
            if detected.format == "png":
                # Chunk structure and checksums through IEND (catches truncation early).
                with self._open(path, detected) as image:
                    image.verify()
            with self._open(path, detected) as image:
                if detected.format == "jpeg":
                    # Decoding at 1/8 scale reads every byte at a fraction of the memory.
                    image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
        except UnprocessableContent:
            raise
        except _DECODE_ERRORS as error:
            raise UnprocessableContent(
                f"the {name} image is broken: {reason_of(error, path)}"
            ) from None

    # --- metadata ----------------------------------------------------------------------

    @hookimpl
    def extract_metadata(self, path: Path, detected: Detected) -> Description | None:
        if detected.type != "image":
            return None
        if detected.format == "svg":
            dimensions, extracted = _svg.describe(_svg.parse(path, self.max_svg_bytes))
            return Description(dimensions=dimensions, extracted=extracted)
        if detected.format not in _PIL_FORMATS:
            return None
        with self._open(path, detected) as image:
            extracted: dict[str, Any] = {"mode": image.mode}
            if getattr(image, "is_animated", False):
                extracted["animated"] = True
                if detected.format == "webp":
                    extracted["frames"] = image.n_frames
            extracted.update(self._exif(image))
            return Description(dimensions=Dimensions(*image.size), extracted=extracted)

    def _exif(self, image: Image.Image) -> dict[str, Any]:
        try:
            exif = image.getexif()
            details = exif.get_ifd(_EXIF_IFD)
            gps = exif.get_ifd(_GPS_IFD) if self.gps else {}
        except _DECODE_ERRORS:
            return {}  # a broken EXIF block is no reason to refuse the picture
        found: dict[str, Any] = {}
        orientation = exif.get(_ORIENTATION)
        if isinstance(orientation, int) and 1 <= orientation <= 8:
            found["orientation"] = orientation
        camera = {
            "make": clean_text(exif.get(_MAKE), 100),
            "model": clean_text(exif.get(_MODEL), 100),
            "lens": clean_text(details.get(_LENS_MODEL), 100),
        }
        if camera := {key: value for key, value in camera.items() if value}:
            found["camera"] = camera
        if taken_at := _exif_time(details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)):
            found["taken_at"] = taken_at
        if gps:
            latitude = _degrees(gps.get(2), gps.get(1))
            longitude = _degrees(gps.get(4), gps.get(3))
            if latitude is not None and longitude is not None:
                found["gps"] = {"latitude": latitude, "longitude": longitude}
        return found
