"""The built-in ``video`` plugin: MP4 (and QuickTime MOV), WEBM (and Matroska) and AVI, read
by ffprobe: duration, dimensions, video and audio codecs, frame rate, bitrate.

ffprobe runs as a subprocess with a timeout, in the worker thread ``validate`` and
``extract_metadata`` are called in, with the demuxer forced to the one the bytes named and only
the ``file`` protocol allowed (so a crafted file cannot make it open anything else). Its output
is read once per upload: ``validate`` probes, ``extract_metadata`` reuses the result.

Without ffprobe on the ``PATH`` (or at the ``ffprobe`` option's path) the plugin says so once,
when it is loaded, and video is stored unchecked, without those fields.

The command line is ffmpeg-python's ``ffmpeg.probe`` (``-show_format -show_streams -of json``),
run here with ``subprocess.run(timeout=...)``: ffmpeg-python's last release (0.2.0) has no
timeout on ``probe``, and a timeout is what keeps a hostile file from holding a thread.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asset_service.engine.errors import UnprocessableContent, UnsupportedContent
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import AssetType, Dimensions
from asset_service.engine.preview_types import Previewer

from ..hookspecs import hookimpl
from . import _media_previews
from ._common import ResultCache, clean_text

logger = logging.getLogger(__name__)

MP4 = Detected("video", "video/mp4", "mp4", heavy=True)
MOV = Detected("video", "video/quicktime", "mov", heavy=True)
WEBM = Detected("video", "video/webm", "webm", heavy=True)
MKV = Detected("video", "video/x-matroska", "mkv", heavy=True)
AVI = Detected("video", "video/x-msvideo", "avi", heavy=True)

MIME_TYPES = (
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/x-msvideo",
    "video/avi",
    "video/msvideo",
)
EXTENSIONS = ("mp4", "m4v", "mov", "webm", "mkv", "avi")
#: ffprobe's demuxer for each format
_DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska", "avi": "avi"}
#: ISO-BMFF brands that are not video: audio (the audio plugin's) and still images (HEIF, AVIF)
_NOT_VIDEO_BRANDS = {
    b"M4A ",
    b"M4B ",
    b"F4A ",
    b"F4B ",
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"heim",
    b"heis",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}
_FFMPEG_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def detect(head: bytes) -> Detected | None:
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _NOT_VIDEO_BRANDS:
            return None
        return MOV if brand == b"qt  " else MP4
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # The EBML header names the document type within its first few dozen bytes.
        if b"webm" in head[:64]:
            return WEBM
        if b"matroska" in head[:64]:
            return MKV
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    return None


def _rate(value: str | None) -> float | None:
    try:
        numerator, denominator = (value or "").split("/")
        result = int(numerator) / int(denominator)
    except (ValueError, ZeroDivisionError):
        return None
    return round(result, 3) if result > 0 else None


def _number(value: Any, kind: type = float) -> Any:
    try:
        result = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        return None
    return result if result > 0 else None


@dataclass
class VideoPlugin:
    """Options (``[plugins.video.options]`` in plugins.toml):

    - ``ffprobe``: the ffprobe command or its path (default ``ffprobe``, looked up on PATH).
    - ``timeout``: seconds ffprobe may take on one file before the upload is refused
      (default 30).
    - ``max_size``: the largest video file accepted, in bytes (default: the upload limit).
    """

    ffprobe: str = "ffprobe"
    timeout: float = 30.0
    max_size: int | None = None
    _command: str | None = field(init=False, default=None, repr=False)
    _probes: ResultCache[dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        self._command = shutil.which(self.ffprobe)
        self._probes = ResultCache()
        if self._command is None:
            logger.warning(
                "video plugin: %r not found: video files are stored without checking them and "
                "without duration, dimensions, codecs or frame rate (install ffmpeg)",
                self.ffprobe,
            )

    @property
    def available(self) -> bool:
        return self._command is not None

    @hookimpl
    def asset_types(self) -> list[AssetType]:
        return [AssetType("video", "video-assets", MIME_TYPES, EXTENSIONS, self.max_size)]

    @hookimpl
    def sniff(self, head: bytes) -> Detected | None:
        return detect(head)

    @hookimpl
    def previewers(self, asset_type: str, mime_type: str) -> list[Previewer]:
        """``poster``: a frame from about 10 % in (WEBP, 128-1024 px); with no ffmpeg here
        it fails with that reason."""
        if asset_type != "video":
            return []
        return [Previewer("poster", "image/webp", _media_previews.video_poster)]

    def _probe(self, path: Path, detected: Detected) -> dict[str, Any]:
        assert self._command is not None
        command = [
            self._command,
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-f",
            _DEMUXERS[detected.format],
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ]
        name = detected.format.upper()
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=self.timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise UnprocessableContent(
                f"the {name} file could not be read within {self.timeout:g} s"
            ) from None
        if done.returncode != 0:
            raise UnprocessableContent(f"the {name} file is broken: {self._reason(done, path)}")
        try:
            probe = json.loads(done.stdout)
        except ValueError:
            raise UnprocessableContent(f"the {name} file could not be read") from None
        streams = [s for s in probe.get("streams") or [] if isinstance(s, dict)]
        video = [
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ]
        if not video:
            raise UnsupportedContent(
                f"the {name} file holds no video stream; audio goes in an audio format "
                "(MP3, M4A, Ogg, FLAC, WAV)"
            )
        return {"format": probe.get("format") or {}, "video": video[0], "streams": streams}

    @staticmethod
    def _reason(done: subprocess.CompletedProcess[bytes], path: Path) -> str:
        lines = []
        for line in done.stderr.decode("utf-8", "replace").splitlines():
            line = _FFMPEG_PREFIX.sub("", line).replace(str(path), "the file").strip()
            if line and line not in lines:
                lines.append(line)
        return ("; ".join(lines) or f"ffprobe exited with status {done.returncode}")[:300]

    @hookimpl
    def validate(self, path: Path, detected: Detected) -> None:
        if detected.type != "video" or detected.format not in _DEMUXERS or not self.available:
            return
        self._probes.get_or_compute(path, lambda p: self._probe(p, detected))

    @hookimpl
    def extract_metadata(self, path: Path, detected: Detected) -> Description | None:
        if detected.type != "video" or detected.format not in _DEMUXERS or not self.available:
            return None
        probe = self._probes.get_or_compute(path, lambda p: self._probe(p, detected))
        container, video = probe["format"], probe["video"]
        audio = next((s for s in probe["streams"] if s.get("codec_type") == "audio"), None)
        duration = _number(container.get("duration")) or _number(video.get("duration"))
        width, height = _number(video.get("width"), int), _number(video.get("height"), int)
        extracted: dict[str, Any] = {
            "container": clean_text(container.get("format_name"), 100),
            "video_codec": clean_text(video.get("codec_name"), 50),
            "audio_codec": clean_text(audio.get("codec_name"), 50) if audio else None,
            "frame_rate": _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
            "bitrate": _number(container.get("bit_rate"), int),
            "pixel_format": clean_text(video.get("pix_fmt"), 50),
        }
        if audio:
            extracted["sample_rate"] = _number(audio.get("sample_rate"), int)
            extracted["channels"] = _number(audio.get("channels"), int)
        return Description(
            duration=round(duration, 6) if duration else None,
            dimensions=Dimensions(width, height) if width and height else None,
            extracted=extracted,
        )
