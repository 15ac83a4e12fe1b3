"""The built-in ``document`` plugin: PDF (pypdf: pages, title, author…), DOCX (core properties
and word count, under zip-bomb limits) and TXT (encoding, lines, words).

TXT means plain text: bytes that decode as text but are HTML, XML or script markup are not a
document (an SVG is the image plugin's; other markup is of no type this service stores)."""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asset_service.engine.errors import UnprocessableContent
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import AssetType
from asset_service.engine.preview_types import Previewer

from ..hookspecs import hookimpl
from . import _docx, _pictures
from ._common import ResultCache, clean_text, reason_of
from ._text import MAX_CONTROL_SHARE, decode_head, is_control, markup_kind

logger = logging.getLogger(__name__)

PDF = Detected("document", "application/pdf", "pdf")
DOCX = Detected(
    "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "docx",
)
TXT = Detected("document", "text/plain", "txt")

MIME_TYPES = (PDF.mime_type, DOCX.mime_type, TXT.mime_type)
EXTENSIONS = ("pdf", "docx", "txt")
_TEXT_CHUNK = 1024 * 1024
MiB = 1024 * 1024


def detect(head: bytes) -> Detected | None:
    if head[:5] == b"%PDF-":
        return PDF
    if head[:4] == b"PK\x03\x04":
        return DOCX if _docx.zip_kind(head) == "docx" else None
    text = decode_head(head)
    if text is not None and markup_kind(text.text) is None:
        return TXT
    return None


# --- PDF -----------------------------------------------------------------------------------


def _pdf(path: Path) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        if b"%%EOF" not in handle.read():
            raise UnprocessableContent("the PDF is truncated: it does not end with %%EOF")
    try:
        reader = PdfReader(path)
        found: dict[str, Any] = {"encrypted": reader.is_encrypted}
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    return found  # stored, but nothing more can be read without its password
            except (PyPdfError, NotImplementedError):
                return found
        found["pages"] = len(reader.pages)
        info = reader.metadata or {}
        for key, name in (
            ("/Title", "title"),
            ("/Author", "author"),
            ("/Subject", "subject"),
            ("/Creator", "creator"),
            ("/Producer", "producer"),
        ):
            if text := clean_text(info.get(key)):
                found[name] = text
        found["pdf_version"] = clean_text(reader.pdf_header.removeprefix("%PDF-"), 10)
    except FileNotDecryptedError:
        return {"encrypted": True}
    except (
        PyPdfError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
    ) as error:
        raise UnprocessableContent(f"the PDF is broken: {reason_of(error, path)}") from None
    return found


# --- TXT -----------------------------------------------------------------------------------


def _text(path: Path) -> dict[str, Any]:
    """One pass over the whole file: it must decode, and hold no binary data."""
    with open(path, "rb") as handle:
        head = decode_head(handle.read(8192))
        if head is None:
            raise UnprocessableContent("the text file is not text")
        handle.seek(head.bom)
        decoder = codecs.getincrementaldecoder(head.codec)("strict")
        lines = words = characters = controls = 0
        in_word = False
        last = ""
        offset = head.bom
        while True:
            chunk = handle.read(_TEXT_CHUNK)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as error:
                raise UnprocessableContent(
                    f"the text file is not valid {head.label} near byte {offset + error.start}"
                ) from None
            if text:
                if "\x00" in text:
                    raise UnprocessableContent("the text file holds binary data (NUL bytes)")
                controls += sum(1 for ch in text if is_control(ch))
                characters += len(text)
                lines += text.count("\n")
                pieces = text.split()
                words += len(pieces)
                if pieces and in_word and not text[0].isspace():
                    words -= 1  # a word cut in two by the chunk boundary
                in_word = not text[-1].isspace()
                last = text[-1]
            offset += len(chunk)
            if final:
                break
    if controls > characters * MAX_CONTROL_SHARE:
        raise UnprocessableContent("the text file holds binary data (control characters)")
    if characters and last != "\n":
        lines += 1
    return {
        "encoding": head.label,
        "bom": head.bom > 0,
        "lines": lines,
        "words": words,
        "characters": characters,
    }


@dataclass
class DocumentPlugin:
    """Options (``[plugins.document.options]`` in plugins.toml):

    - ``docx_max_entries``: most entries a DOCX archive may hold (default 2000).
    - ``docx_max_uncompressed_bytes``: most bytes its entries may expand to (default 512 MiB).
    - ``docx_max_ratio``: most an entry of 1 MiB or more may expand, uncompressed size over
      compressed size (default 100).
    - ``max_size``: the largest document accepted, in bytes (default: the upload limit).
    """

    docx_max_entries: int = 2000
    docx_max_uncompressed_bytes: int = 512 * MiB
    docx_max_ratio: float = 100.0
    max_size: int | None = None
    _results: ResultCache[dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.docx_max_entries < 1 or self.docx_max_uncompressed_bytes < 1:
            raise ValueError("the DOCX limits must be at least 1")
        if self.docx_max_ratio < 1:
            raise ValueError("docx_max_ratio must be at least 1")
        self._results = ResultCache()

    @property
    def docx_limits(self) -> _docx.DocxLimits:
        return _docx.DocxLimits(
            self.docx_max_entries, self.docx_max_uncompressed_bytes, self.docx_max_ratio
        )

    @hookimpl
    def asset_types(self) -> list[AssetType]:
        return [AssetType("document", "document-assets", MIME_TYPES, EXTENSIONS, self.max_size)]

    @hookimpl(trylast=True)
    def sniff(self, head: bytes) -> Detected | None:
        # Last: plain text is what is left when no precise recogniser claimed the bytes.
        return detect(head)

    @hookimpl
    def previewers(self, asset_type: str, mime_type: str) -> list[Previewer]:
        """``thumbnail`` of a PDF's first page (PDFium); none for DOCX and plain text."""
        if asset_type != "document" or mime_type != PDF.mime_type:
            return []
        return [Previewer("thumbnail", "image/webp", _pictures.pdf_thumbnail)]

    def _inspect(self, path: Path, detected: Detected) -> dict[str, Any]:
        if detected.format == "pdf":
            return _pdf(path)
        if detected.format == "docx":
            return _docx.inspect(path, self.docx_limits)
        return _text(path)

    @hookimpl
    def validate(self, path: Path, detected: Detected) -> None:
        if detected.type != "document" or detected.format not in ("pdf", "docx", "txt"):
            return
        self._results.get_or_compute(path, lambda p: self._inspect(p, detected))

    @hookimpl
    def extract_metadata(self, path: Path, detected: Detected) -> Description | None:
        if detected.type != "document" or detected.format not in ("pdf", "docx", "txt"):
            return None
        found = self._results.get_or_compute(path, lambda p: self._inspect(p, detected))
        return Description(extracted=dict(found))
