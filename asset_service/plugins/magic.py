"""Recognise the four seed asset types by their leading bytes.

This is the minimal content inspector the engine is wired with until the pluggy type plugins
land (their issue replaces ``MagicBytesInspector`` with a plugin manager implementing the same
``ContentInspector`` port). It never trusts the file name or the client's content type.
"""

from __future__ import annotations

import logging
from pathlib import Path

from asset_service.engine.events import Event
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import SEED_TYPES, AssetType

logger = logging.getLogger(__name__)

# (offset, magic, detected) checked in order; RIFF and ftyp containers are told apart below.
_SIMPLE_SIGNATURES: list[tuple[int, bytes, Detected]] = [
    (0, b"\x89PNG\r\n\x1a\n", Detected("image", "image/png", "png")),
    (0, b"\xff\xd8\xff", Detected("image", "image/jpeg", "jpeg")),
    (0, b"GIF87a", Detected("image", "image/gif", "gif")),
    (0, b"GIF89a", Detected("image", "image/gif", "gif")),
    (0, b"fLaC", Detected("audio", "audio/flac", "flac")),
    (0, b"ID3", Detected("audio", "audio/mpeg", "mp3")),
    (0, b"%PDF-", Detected("document", "application/pdf", "pdf")),
    (0, b"\x1a\x45\xdf\xa3", Detected("video", "video/webm", "webm")),
]
_RIFF_KINDS = {
    b"WAVE": Detected("audio", "audio/wav", "wav"),
    b"WEBP": Detected("image", "image/webp", "webp"),
    b"AVI ": Detected("video", "video/x-msvideo", "avi"),
}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"F4A "}
_DOCX = Detected(
    "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "docx",
)
_TEXT = Detected("document", "text/plain", "txt")
_SVG = Detected("image", "image/svg+xml", "svg")
_MARKUP_STARTS = (b"<!doctype", b"<html", b"<script", b"<?php", b"<head", b"<body", b"<?xml")


def sniff_bytes(head: bytes) -> Detected | None:
    for offset, magic, detected in _SIMPLE_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return detected
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    if head[4:8] == b"ftyp":
        if head[8:12] in _AUDIO_BRANDS:
            return Detected("audio", "audio/mp4", "m4a")
        return Detected("video", "video/mp4", "mp4")
    if head[:4] == b"OggS":
        return Detected("audio", "audio/ogg", "ogg")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return Detected("audio", "audio/mpeg", "mp3")  # an MPEG frame sync without ID3 tag
    if head[:4] == b"PK\x03\x04" and b"[Content_Types].xml" in head and b"word/" in head:
        return _DOCX
    return _sniff_text(head)


def _sniff_text(head: bytes) -> Detected | None:
    """Plain text, or SVG; other markup (HTML, XML, script) is not a type we store."""
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # The head may end inside a multi-byte character.
        if error.start < len(head) - 4:
            return None
        text = head[: error.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if "<svg" in stripped[:2048] and stripped.startswith(("<svg", "<?xml", "<!--")):
        return _SVG
    if stripped.startswith(("<",)) and stripped.startswith(
        tuple(m.decode() for m in _MARKUP_STARTS)
    ):
        return None
    if stripped.startswith("<") and ">" in stripped[:200]:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return _TEXT if text and printable / len(text) > 0.95 else None


class MagicBytesInspector:
    """Implements ``asset_service.engine.inspection.ContentInspector`` for the seed types."""

    def __init__(self, asset_types: dict[str, AssetType] | None = None) -> None:
        self._types = dict(asset_types or SEED_TYPES)

    def asset_types(self) -> dict[str, AssetType]:
        return self._types

    def sniff(self, head: bytes, filename: str) -> Detected | None:
        return sniff_bytes(head)

    def validate(self, path: Path, detected: Detected) -> None:
        return None

    def describe(self, path: Path, detected: Detected) -> Description:
        return Description()

    def notify(self, event: Event) -> None:
        logger.debug("event %s", event.name)
