"""Names content no enabled plugin recognised, for the 415 answer ("naming what was
detected"): the built-in recognisers (a PNG while the image plugin is disabled), then other
well-known formats, then kinds of text."""

from __future__ import annotations

from .builtin import _docx, audio, document, image, video
from .builtin._text import decode_head, markup_kind

_BUILTIN_DETECTORS = (audio.detect, image.detect, video.detect, document.detect)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip archive (application/gzip)"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive (application/x-7z-compressed)"),
    (b"Rar!\x1a\x07", "RAR archive (application/vnd.rar)"),
    (b"BZh", "bzip2 archive (application/x-bzip2)"),
    (b"\xfd7zXZ\x00", "xz archive (application/x-xz)"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O or Java class file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE compound file (legacy or encrypted Office file)"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"II*\x00", "TIFF image (image/tiff)"),
    (b"MM\x00*", "TIFF image (image/tiff)"),
    (b"%!PS", "PostScript file (application/postscript)"),
    (b"{\\rtf", "RTF document (application/rtf)"),
    (b"OggS", "Ogg file of a codec other than Vorbis or Opus"),
    (b"\x1a\x45\xdf\xa3", "EBML file that is neither WebM nor Matroska"),
)
_ZIP_KINDS = {
    "xlsx": "Excel workbook (XLSX)",
    "pptx": "PowerPoint presentation (PPTX)",
    "odf": "OpenDocument file (ODF)",
    "zip": "ZIP archive (application/zip)",
}
_MARKUP = {
    "html": "HTML markup (text/html)",
    "xml": "XML markup (application/xml)",
    "svg": "SVG markup (image/svg+xml)",
    "script": "script (#!)",
    "php": "PHP code",
}
_NOUNS = {"audio": "audio", "image": "image", "video": "video", "document": "document"}


def identify(head: bytes) -> tuple[str, str | None]:
    """``(label, asset type)``: what the bytes look like, and the built-in asset type they
    would be (``None`` for anything else)."""
    for detect in _BUILTIN_DETECTORS:
        if found := detect(head):
            return f"{found.format.upper()} {_NOUNS[found.type]} ({found.mime_type})", found.type
    if head[:4] == b"PK\x03\x04":
        return _ZIP_KINDS.get(_docx.zip_kind(head) or "zip", _ZIP_KINDS["zip"]), None
    if head[4:8] == b"ftyp":
        return "HEIF or AVIF image (image/heif, image/avif)", None
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in (12, 40, 56, 108, 124):
        return "BMP image (image/bmp)", None
    for magic, label in _SIGNATURES:
        if head.startswith(magic):
            return label, None
    text = decode_head(head)
    if text is not None:
        kind = markup_kind(text.text)
        return (_MARKUP[kind] if kind else f"plain text ({text.label})"), None
    return "binary data of no known format", None
