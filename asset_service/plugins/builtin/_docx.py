"""DOCX: a ZIP of XML parts. Opened with ``zipfile`` under limits (entries, uncompressed size,
compression ratio), its XML parsed by defusedxml with DTDs and entities refused; never
python-docx, which parses with lxml and has no such limits."""

from __future__ import annotations

import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from asset_service.engine.errors import UnprocessableContent, UnsupportedContent

from ._common import clean_text, reason_of

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_CORE_FIELDS = {
    "{http://purl.org/dc/elements/1.1/}title": "title",
    "{http://purl.org/dc/elements/1.1/}subject": "subject",
    "{http://purl.org/dc/elements/1.1/}creator": "author",
    "{http://purl.org/dc/elements/1.1/}description": "description",
    "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}keywords": "keywords",
    "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}lastModifiedBy": (
        "last_modified_by"
    ),
    "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}revision": (
        "revision"
    ),
    "{http://purl.org/dc/terms/}created": "created",
    "{http://purl.org/dc/terms/}modified": "modified",
}
#: a ratio is only held against entries at least this large (small XML compresses well)
_RATIO_FLOOR = 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")


def zip_entry_names(head: bytes) -> list[str]:
    """The names of the ZIP entries whose local headers lie in ``head``, in order."""
    names: list[str] = []
    position = 0
    while position + _LOCAL_HEADER.size <= len(head) and len(names) < 64:
        fields = _LOCAL_HEADER.unpack_from(head, position)
        if fields[0] != b"PK\x03\x04":
            break
        flags, compressed, name_length, extra_length = fields[2], fields[7], fields[9], fields[10]
        start = position + _LOCAL_HEADER.size
        names.append(head[start : start + name_length].decode("utf-8", "replace"))
        if flags & 0x08:
            break  # sizes follow the data: the next header's place is unknown
        position = start + name_length + extra_length + compressed
    return names


def zip_kind(head: bytes) -> str | None:
    """``docx``, another package's name (``xlsx``, ``pptx``, ``odf``, ``zip``), or ``None``."""
    if head[:4] != b"PK\x03\x04":
        return None
    names = zip_entry_names(head)
    if names[:1] == ["mimetype"] and b"application/vnd.oasis.opendocument" in head[:200]:
        return "odf"
    if any(n.startswith("xl/") for n in names):
        return "xlsx"
    if any(n.startswith("ppt/") for n in names):
        return "pptx"
    if any(n.startswith("word/") or n == "[Content_Types].xml" for n in names):
        return "docx"
    return "zip"


@dataclass(frozen=True, slots=True)
class DocxLimits:
    max_entries: int
    max_uncompressed_bytes: int
    max_ratio: float


def _parse(handle: IO[bytes], part: str) -> Any:
    try:
        return SafeET.parse(handle, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise UnprocessableContent(
            f"the DOCX part {part} declares a DTD or entities ({type(error).__name__}), "
            "which Word documents never need"
        ) from None
    except SafeET.ParseError as error:
        raise UnprocessableContent(
            f"the DOCX part {part} is not well-formed XML: {error}"
        ) from None


def check(path: Path, limits: DocxLimits) -> zipfile.ZipFile:
    """The opened archive, once its directory passed the limits; raises on a bomb, a broken
    archive or a package that is no Word document."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as error:
        raise UnprocessableContent(
            f"the DOCX file is not a readable ZIP archive: {reason_of(error, path)}"
        ) from None
    try:
        entries = archive.infolist()
        if len(entries) > limits.max_entries:
            raise UnprocessableContent(
                f"the DOCX holds {len(entries)} entries; at most {limits.max_entries} are "
                "accepted (zip bomb?)"
            )
        total = sum(entry.file_size for entry in entries)
        if total > limits.max_uncompressed_bytes:
            raise UnprocessableContent(
                f"the DOCX would expand to {total} bytes; at most "
                f"{limits.max_uncompressed_bytes} are accepted (zip bomb?)"
            )
        for entry in entries:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size >= _RATIO_FLOOR and ratio > limits.max_ratio:
                raise UnprocessableContent(
                    f"the DOCX entry {clean_text(entry.filename, 80)!r} expands {ratio:.0f} "
                    f"times; at most {limits.max_ratio:g} is accepted (zip bomb?)"
                )
            if entry.flag_bits & 0x1:
                raise UnprocessableContent("the DOCX holds encrypted entries")
        names = {entry.filename for entry in entries}
        if "word/vbaProject.bin" in names:
            raise UnsupportedContent("macro-enabled Word documents (DOCM) are not accepted")
        if "word/document.xml" not in names or "[Content_Types].xml" not in names:
            if any(name.startswith("xl/") for name in names):
                raise UnsupportedContent("the bytes are an Excel workbook (XLSX), not a DOCX")
            if any(name.startswith("ppt/") for name in names):
                raise UnsupportedContent("the bytes are a PowerPoint file (PPTX), not a DOCX")
            raise UnprocessableContent("the DOCX has no word/document.xml or [Content_Types].xml")
        with archive.open("[Content_Types].xml") as handle:
            types = _parse(handle, "[Content_Types].xml").getroot()
        main = next(
            (
                override.get("ContentType", "")
                for override in types.iter(f"{_CT}Override")
                if override.get("PartName") == "/word/document.xml"
            ),
            "",
        )
        if "macroEnabled" in main:
            raise UnsupportedContent("macro-enabled Word documents (DOCM) are not accepted")
        if main and main != _DOCX_MAIN:
            raise UnsupportedContent(f"the Word package is of type {main[:100]!r}, not a DOCX")
        return archive
    except BaseException:
        archive.close()
        raise


def _words(archive: zipfile.ZipFile) -> int:
    """Words of the body text: ``w:t`` runs joined per paragraph, tabs and breaks as spaces."""
    words = 0
    pieces: list[str] = []
    separators = {f"{_W}tab", f"{_W}br", f"{_W}cr"}
    with archive.open("word/document.xml") as handle:
        try:
            for _, element in SafeET.iterparse(
                handle, events=("end",), forbid_dtd=True, forbid_entities=True
            ):
                tag = element.tag
                if tag == f"{_W}t":
                    pieces.append(element.text or "")
                elif tag in separators:
                    pieces.append(" ")
                elif tag == f"{_W}p":
                    words += len("".join(pieces).split())
                    pieces.clear()
                    element.clear()
        except DefusedXmlException as error:
            raise UnprocessableContent(
                f"the DOCX body declares a DTD or entities ({type(error).__name__})"
            ) from None
        except SafeET.ParseError as error:
            raise UnprocessableContent(f"the DOCX body is not well-formed XML: {error}") from None
    return words + len("".join(pieces).split())


def _core_properties(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        handle = archive.open("docProps/core.xml")
    except KeyError:
        return {}
    with handle:
        root = _parse(handle, "docProps/core.xml").getroot()
    found: dict[str, Any] = {}
    for element in root:
        name = _CORE_FIELDS.get(element.tag)
        if name and (text := clean_text(element.text)):
            found[name] = text
    if "revision" in found and re.fullmatch(r"\d{1,9}", found["revision"]):
        found["revision"] = int(found["revision"])
    return found


def inspect(path: Path, limits: DocxLimits) -> dict[str, Any]:
    """Check the archive and read what a DOCX tells: core properties and word count."""
    with check(path, limits) as archive:
        try:
            extracted = _core_properties(archive)
            extracted["words"] = _words(archive)
        except (zipfile.BadZipFile, OSError, EOFError, struct.error, ValueError) as error:
            raise UnprocessableContent(
                f"the DOCX file is broken: {reason_of(error, path)}"
            ) from None
    return extracted
