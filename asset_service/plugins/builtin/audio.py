"""The built-in ``audio`` plugin: WAV, MP3, Ogg Vorbis, Ogg Opus, FLAC and M4A, read with
mutagen (duration, bitrate, sample rate, channels, codec, tags)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.easymp4 import EasyMP4
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp3 import EasyMP3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from asset_service.engine.errors import UnprocessableContent
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import AssetType
from asset_service.engine.preview_types import Previewer

from ..hookspecs import hookimpl
from . import _media_previews
from ._common import clean_text, reason_of

WAV = Detected("audio", "audio/wav", "wav")
MP3 = Detected("audio", "audio/mpeg", "mp3")
OGG_VORBIS = Detected("audio", "audio/ogg", "ogg")
OGG_OPUS = Detected("audio", "audio/ogg", "opus")
FLAC_ = Detected("audio", "audio/flac", "flac")
M4A = Detected("audio", "audio/mp4", "m4a")

MIME_TYPES = (
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/mpeg",
    "audio/mp3",
    "audio/ogg",
    "audio/opus",
    "audio/flac",
    "audio/x-flac",
    "audio/mp4",
    "audio/x-m4a",
)
EXTENSIONS = ("wav", "mp3", "ogg", "oga", "opus", "flac", "m4a")
#: MP4 brands of audio-only files (video brands belong to the video plugin)
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"F4A ", b"F4B "}

_READERS: dict[str, Any] = {
    "wav": WAVE,
    "mp3": EasyMP3,
    "ogg": OggVorbis,
    "opus": OggOpus,
    "flac": FLAC,
    "m4a": EasyMP4,
}
#: the tags kept, by mutagen's "easy" names
TAG_NAMES = (
    "title",
    "artist",
    "album",
    "albumartist",
    "date",
    "genre",
    "tracknumber",
    "discnumber",
    "composer",
)
#: RIFF INFO chunk ids (WAV) → tag names
_RIFF_INFO = {
    b"INAM": "title",
    b"IART": "artist",
    b"IPRD": "album",
    b"ICRD": "date",
    b"IGNR": "genre",
    b"ITRK": "tracknumber",
}

# MPEG audio frame header tables (version 1 and 2/2.5, layers III, II, I), kbit/s
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(header: bytes) -> int | None:
    """The length of the MPEG audio frame starting with these 4 bytes; ``None`` if they are
    not a valid frame header."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version_bits = (header[1] >> 3) & 3  # 0: 2.5, 2: 2, 3: 1
    layer_bits = (header[1] >> 1) & 3  # 1: III, 2: II, 3: I
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    if version_bits == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits
    version = 1 if version_bits == 3 else 2
    bitrate = _BITRATES[(version, layer)][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version_bits][rate_index]
    padding = (header[2] >> 1) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    samples = 1152 if layer == 2 or version == 1 else 576
    return samples // 8 * bitrate // rate + padding


def _is_mpeg_audio(head: bytes, offset: int = 0) -> bool:
    """A valid frame header at ``offset``, and another where the first frame ends (frames are
    at most ~2.9 KB, so the head holds both): random bytes and UTF-16 text rarely pass both."""
    length = _mpeg_frame_length(head[offset : offset + 4])
    if length is None:
        return False
    following = offset + length
    return _mpeg_frame_length(head[following : following + 4]) is not None


def _id3_end(head: bytes) -> int:
    """Where the ID3v2 tag at the start of ``head`` ends."""
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def detect(head: bytes) -> Detected | None:
    """The audio format of these leading bytes, if any."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"fLaC":
        return FLAC_
    if head[:3] == b"ID3" and len(head) >= 10:
        end = _id3_end(head)
        # FLAC files sometimes carry an ID3 tag in front; anything else tagged is MP3.
        return FLAC_ if head[end : end + 4] == b"fLaC" else MP3
    if head[:4] == b"OggS" and len(head) >= 36:
        # The first page holds the codec's identification header.
        if head[28:35] == b"\x01vorbis":
            return OGG_VORBIS
        if head[28:36] == b"OpusHead":
            return OGG_OPUS
        return None
    if head[4:8] == b"ftyp" and head[8:12] in AUDIO_BRANDS:
        return M4A
    if _is_mpeg_audio(head):
        return MP3
    return None


def _read(path: Path, detected: Detected) -> Any:
    reader = _READERS[detected.format]
    name = detected.format.upper()
    try:
        audio = reader(path)
    except (mutagen.MutagenError, struct.error, EOFError, ValueError, IndexError) as error:
        raise UnprocessableContent(f"the {name} file is broken: {reason_of(error, path)}") from None
    info = audio.info
    if not info.length or info.length <= 0:
        raise UnprocessableContent(f"the {name} file holds no audio")
    if getattr(info, "channels", 1) <= 0:
        raise UnprocessableContent(f"the {name} file has no audio channels")
    return audio


def _wav_truncation(path: Path) -> str | None:
    """The RIFF header says how long the file is: a shorter file was cut off."""
    with open(path, "rb") as handle:
        header = handle.read(12)
    declared = struct.unpack("<I", header[4:8])[0] + 8
    actual = path.stat().st_size
    if actual < declared:
        return f"the WAV file is truncated: {actual} of {declared} bytes"
    return None


def _riff_info_tags(path: Path) -> dict[str, str]:
    """Tags of a WAV's ``LIST/INFO`` chunk (where ffmpeg, Audacity and others write them)."""
    tags: dict[str, str] = {}
    with open(path, "rb") as handle:
        handle.seek(12)
        for _ in range(64):  # chunks looked at, at most
            chunk = handle.read(8)
            if len(chunk) < 8:
                break
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"LIST" and size <= 65536:
                body = handle.read(size)
                if body[:4] == b"INFO":
                    position = 4
                    while position + 8 <= len(body):
                        sub_id = body[position : position + 4]
                        sub_size = struct.unpack("<I", body[position + 4 : position + 8])[0]
                        value = body[position + 8 : position + 8 + sub_size].split(b"\x00")[0]
                        if sub_id in _RIFF_INFO and (text := clean_text(value)):
                            tags[_RIFF_INFO[sub_id]] = text
                        position += 8 + sub_size + (sub_size & 1)
                handle.seek(size & 1, 1)
            else:
                handle.seek(size + (size & 1), 1)
    return tags


#: ID3 frames (WAV files carry plain ID3 tags, without mutagen's "easy" names)
_ID3_FRAMES = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "albumartist": "TPE2",
    "date": "TDRC",
    "genre": "TCON",
    "tracknumber": "TRCK",
    "discnumber": "TPOS",
    "composer": "TCOM",
}


def _tags(audio: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    source = audio.tags
    if source is None:
        return tags
    plain_id3 = isinstance(source, ID3)
    for name in TAG_NAMES:
        try:
            if plain_id3:
                frame = source.get(_ID3_FRAMES[name])
                values = [str(text) for text in frame.text] if frame is not None else None
            else:
                values = source.get(name)
        except (KeyError, ValueError):
            values = None
        if values:
            first = values[0] if isinstance(values, list) else values
            if text := clean_text(first):
                tags[name] = text
    return tags


def _codec(audio: Any, detected: Detected) -> str:
    info = audio.info
    if detected.format == "wav":
        bits = getattr(info, "bits_per_sample", 16)
        return f"pcm_s{bits}le" if bits > 8 else "pcm_u8"
    if detected.format == "m4a":
        return getattr(info, "codec", None) or "mp4a"
    return {"ogg": "vorbis", "opus": "opus"}.get(detected.format, detected.format)


@dataclass
class AudioPlugin:
    """Options (``[plugins.audio.options]`` in plugins.toml):

    - ``max_size``: the largest audio file accepted, in bytes (default: the upload limit).
    """

    max_size: int | None = None

    @hookimpl
    def asset_types(self) -> list[AssetType]:
        return [AssetType("audio", "audio-assets", MIME_TYPES, EXTENSIONS, self.max_size)]

    @hookimpl
    def sniff(self, head: bytes) -> Detected | None:
        return detect(head)

    @hookimpl
    def previewers(self, asset_type: str, mime_type: str) -> list[Previewer]:
        """``waveform``: peaks as JSON (decoded by ffmpeg, streamed)."""
        if asset_type != "audio":
            return []
        return [Previewer("waveform", "application/json", _media_previews.audio_waveform)]

    @hookimpl
    def validate(self, path: Path, detected: Detected) -> None:
        if detected.type != "audio" or detected.format not in _READERS:
            return
        if detected.format == "wav" and (problem := _wav_truncation(path)):
            raise UnprocessableContent(problem)
        _read(path, detected)

    @hookimpl
    def extract_metadata(self, path: Path, detected: Detected) -> Description | None:
        if detected.type != "audio" or detected.format not in _READERS:
            return None
        audio = _read(path, detected)
        info = audio.info
        extracted: dict[str, Any] = {
            "codec": _codec(audio, detected),
            "bitrate": int(getattr(info, "bitrate", 0) or 0) or None,
            # Opus always decodes at 48 kHz; mutagen does not report it.
            "sample_rate": getattr(
                info, "sample_rate", 48000 if detected.format == "opus" else None
            ),
            "channels": getattr(info, "channels", None),
        }
        if bits := getattr(info, "bits_per_sample", None):
            extracted["bits_per_sample"] = bits
        tags = _riff_info_tags(path) if detected.format == "wav" else {}
        tags.update(_tags(audio))
        extracted["tags"] = tags
        return Description(duration=round(float(info.length), 6), extracted=extracted)
