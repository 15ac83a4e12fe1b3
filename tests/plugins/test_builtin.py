"""The built-in plugins up close: recognition from the bytes alone, what names unknown content,
and the checks and options that the HTTP corpus tests do not reach."""

from __future__ import annotations

import io
import logging
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from asset_service.engine.errors import UnprocessableContent, UnsupportedContent
from asset_service.plugins.builtin import _text, audio, document, image, video
from asset_service.plugins.builtin.document import DocumentPlugin
from asset_service.plugins.builtin.image import ImagePlugin
from asset_service.plugins.builtin.video import VideoPlugin
from asset_service.plugins.identify import identify
from asset_service.plugins.loading import load_plugins
from tests.media import (
    TEXT,
    docx_bytes,
    glb_bytes,
    image_bytes,
    jpeg_with_exif,
    pdf_bytes,
    random_bytes,
    svg,
    tiny_png,
    wav_bytes,
)

MP3_FRAME = b"\xff\xfb\x90\x00" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz


def ftyp(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom"


def ogg_page(codec_header: bytes) -> bytes:
    return b"OggS" + b"\x00" * 24 + codec_header + b"\x00" * 32


ID3_THEN_FLAC = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"fLaC" + b"\x00" * 40


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(wav_bytes(0.1), ("audio", "wav"), id="wav"),
        pytest.param(MP3_FRAME * 3, ("audio", "mp3"), id="mp3-frames-without-id3"),
        pytest.param(
            b"ID3\x04\x00\x00\x00\x00\x00\x00" + MP3_FRAME, ("audio", "mp3"), id="mp3-id3"
        ),
        pytest.param(ID3_THEN_FLAC, ("audio", "flac"), id="flac-behind-id3"),
        pytest.param(b"fLaC" + b"\x00" * 40, ("audio", "flac"), id="flac"),
        pytest.param(ogg_page(b"\x01vorbis"), ("audio", "ogg"), id="ogg-vorbis"),
        pytest.param(ogg_page(b"OpusHead"), ("audio", "opus"), id="ogg-opus"),
        pytest.param(ftyp(b"M4A "), ("audio", "m4a"), id="m4a"),
        pytest.param(tiny_png(), ("image", "png"), id="png"),
        pytest.param(image_bytes("JPEG"), ("image", "jpeg"), id="jpeg"),
        pytest.param(image_bytes("GIF"), ("image", "gif"), id="gif"),
        pytest.param(image_bytes("WEBP"), ("image", "webp"), id="webp"),
        pytest.param(svg(), ("image", "svg"), id="svg"),
        pytest.param(
            b"\xef\xbb\xbf  <!-- drawn by hand -->\n" + svg(), ("image", "svg"), id="svg-bom"
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<!DOCTYPE svg [' + b'<!ENTITY a "b">' * 1000,
            ("image", "svg"),
            id="svg-doctype-longer-than-the-head",
        ),
        pytest.param(ftyp(b"isom"), ("video", "mp4"), id="mp4"),
        pytest.param(ftyp(b"qt  "), ("video", "mov"), id="mov"),
        pytest.param(b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm", ("video", "webm"), id="webm"),
        pytest.param(b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska", ("video", "mkv"), id="mkv"),
        pytest.param(b"RIFF\x00\x00\x00\x00AVI LIST", ("video", "avi"), id="avi"),
        pytest.param(pdf_bytes(1), ("document", "pdf"), id="pdf"),
        pytest.param(docx_bytes(), ("document", "docx"), id="docx"),
        pytest.param(TEXT, ("document", "txt"), id="txt"),
        pytest.param("ünïcödé\n".encode("utf-16"), ("document", "txt"), id="utf-16-is-not-mp3"),
        pytest.param(b"3 < 4 and <3\n", ("document", "txt"), id="text-with-angles"),
    ],
)
def test_builtin_recognition(head, expected):
    inspector = load_plugins(installed=False)
    detected = inspector.sniff(head[:8192], "name.bin")
    assert (detected.type, detected.format) == expected


@pytest.mark.parametrize(
    ("head", "label"),
    [
        (ftyp(b"heic"), "HEIF or AVIF image"),
        (b"<!doctype html><title>x</title>", "HTML markup"),
        (b"<p>hello</p>", "HTML markup"),
        (b"hello <script>alert(1)</script>", "HTML markup"),
        (b'<?xml version="1.0"?><feed/>', "XML markup"),
        (b"#!/usr/bin/env python\nprint(1)\n", "script"),
        (b"<?php echo 1; ?>", "PHP code"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "ELF executable"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip archive"),
        (glb_bytes(), "binary data of no known format"),
        (random_bytes(), "binary data of no known format"),
        (b"OggS" + b"\x00" * 24 + b"\x80theora" + b"\x00" * 20, "Ogg file of a codec"),
    ],
)
def test_unknown_content_is_refused_naming_what_it_is(head, label):
    with pytest.raises(UnsupportedContent, match="no type this service stores") as caught:
        load_plugins(installed=False).sniff(head, "x")
    assert label in caught.value.reason
    assert identify(head)[0].startswith(label)


def test_detectors_are_disjoint():
    """No bytes are claimed by two built-in plugins (order must never decide between them)."""
    samples = [wav_bytes(0.1), MP3_FRAME * 3, tiny_png(), svg(), ftyp(b"isom"), ftyp(b"M4A ")]
    samples += [pdf_bytes(1), docx_bytes(), TEXT, image_bytes("WEBP"), random_bytes()]
    for sample in samples:
        claims = [
            m.__name__
            for m in (audio, image, video, document)
            if m.detect(sample[:8192]) is not None
        ]
        assert len(claims) <= 1, claims


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("plain words\n", None),
        ("<svg xmlns='http://www.w3.org/2000/svg'/>", "svg"),
        ("<!-- c --><!DOCTYPE svg><svg/>", "svg"),
        ("<?xml version='1.0'?><html/>", "html"),
        ("<!DOCTYPE html>", "html"),
        ("<note/>", "xml"),
        ("  #!/bin/sh", "script"),
        ("see <iframe src=x>", "html"),
    ],
)
def test_markup_kinds(text, kind):
    assert _text.markup_kind(text) == kind


# --- image ---------------------------------------------------------------------------------


def test_gps_is_extracted_only_when_configured(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_with_exif())
    detected = image.detect(path.read_bytes())
    without = ImagePlugin().extract_metadata(path, detected)
    assert "gps" not in without.extracted
    located = ImagePlugin(gps=True).extract_metadata(path, detected)
    assert located.extracted["gps"] == {
        "latitude": pytest.approx(48.858056),
        "longitude": pytest.approx(2.294444),
    }


def test_max_pixels_option(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(image_bytes("PNG", 100, 100))
    ImagePlugin(max_pixels=10_000).validate(path, image.PNG)
    with pytest.raises(UnprocessableContent, match=r"100x100 = 10000 pixels.*limit of 9999"):
        ImagePlugin(max_pixels=9_999).validate(path, image.PNG)


def test_a_png_with_a_bad_checksum_is_refused(tmp_path):
    data = bytearray(image_bytes("PNG", 16, 16))
    data[29] ^= 0xFF  # inside IHDR: its CRC no longer matches
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(UnprocessableContent, match="PNG image is broken"):
        ImagePlugin().validate(path, image.PNG)


def test_svg_size_limit(tmp_path):
    path = tmp_path / "big.svg"
    path.write_bytes(svg("<g/>" * 1000))
    with pytest.raises(UnprocessableContent, match="at most 100"):
        ImagePlugin(max_svg_bytes=100).validate(path, image.SVG)


def test_svg_xml_stylesheet_is_refused(tmp_path):
    path = tmp_path / "s.svg"
    path.write_bytes(svg(prolog='<?xml-stylesheet href="https://evil.example/s.css"?>'))
    with pytest.raises(UnprocessableContent, match="stylesheet"):
        ImagePlugin().validate(path, image.SVG)


# --- document ------------------------------------------------------------------------------


def test_docx_entry_and_size_limits(tmp_path):
    path = tmp_path / "a.docx"
    path.write_bytes(docx_bytes())
    entries = len(zipfile.ZipFile(path).infolist())
    DocumentPlugin(docx_max_entries=entries).validate(path, document.DOCX)
    with pytest.raises(
        UnprocessableContent, match=f"holds {entries} entries; at most {entries - 1}"
    ):
        DocumentPlugin(docx_max_entries=entries - 1).validate(path, document.DOCX)
    with pytest.raises(UnprocessableContent, match=r"would expand to .* at most 1000 .*zip bomb"):
        DocumentPlugin(docx_max_uncompressed_bytes=1000).validate(path, document.DOCX)


def _rewrite_docx(replace: dict[str, bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            archive.writestr(name, replace.get(name, source.read(name)))
    return out.getvalue()


def test_docx_xml_with_a_dtd_is_refused(tmp_path):
    body = zipfile.ZipFile(io.BytesIO(docx_bytes())).read("word/document.xml")
    with_dtd = body.replace(b"?>", b'?><!DOCTYPE w:document [<!ENTITY x "y">]>', 1)
    path = tmp_path / "dtd.docx"
    path.write_bytes(_rewrite_docx({"word/document.xml": with_dtd}))
    with pytest.raises(UnprocessableContent, match="DTD or entities"):
        DocumentPlugin().validate(path, document.DOCX)


def test_encrypted_pdf_is_stored_without_its_contents(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(2))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    path = tmp_path / "locked.pdf"
    path.write_bytes(out.getvalue())
    plugin = DocumentPlugin()
    plugin.validate(path, document.PDF)
    assert plugin.extract_metadata(path, document.PDF).extracted == {"encrypted": True}


def test_text_words_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(document, "_TEXT_CHUNK", 7)
    path = tmp_path / "t.txt"
    path.write_bytes(b"alpha beta gamma\ndelta  epsilon zeta eta\ntheta")
    found = DocumentPlugin().extract_metadata(path, document.TXT).extracted
    assert (found["words"], found["lines"], found["characters"]) == (8, 3, 46)


def test_text_that_stops_being_utf8_is_refused(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"valid text\n" * 1000 + b"\xff\xfe broken")
    with pytest.raises(UnprocessableContent, match="not valid utf-8 near byte 11000"):
        DocumentPlugin().validate(path, document.TXT)


# --- audio ---------------------------------------------------------------------------------


def test_wav_list_info_tags(tmp_path):
    data = wav_bytes(0.1)
    info = (
        b"INFO"
        + b"INAM"
        + struct.pack("<I", 6)
        + b"Title\x00"
        + b"IART"
        + struct.pack("<I", 4)
        + b"Ada\x00"
    )
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    body = data[12:] + chunk
    path = tmp_path / "tagged.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body)
    found = audio.AudioPlugin().extract_metadata(path, audio.WAV)
    assert found.extracted["tags"] == {"title": "Title", "artist": "Ada"}


def test_garbage_behind_an_id3_tag_is_422(tmp_path):
    path = tmp_path / "x.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + random_bytes(2000))
    with pytest.raises(UnprocessableContent, match="MP3 file is broken"):
        audio.AudioPlugin().validate(path, audio.MP3)


# --- video ---------------------------------------------------------------------------------


def test_without_ffprobe_the_plugin_warns_once_and_stores_unchecked(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        plugin = VideoPlugin(ffprobe="no-such-ffprobe-here")
    assert caplog.text.count("not found") == 1
    path = tmp_path / "v.mp4"
    path.write_bytes(ftyp(b"isom") + b"\x00" * 100)
    plugin.validate(path, video.MP4)
    assert plugin.extract_metadata(path, video.MP4) is None


def test_a_slow_ffprobe_is_killed_at_the_timeout(tmp_path):
    fake = tmp_path / "slow-ffprobe"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    plugin = VideoPlugin(ffprobe=str(fake), timeout=0.3)
    path = tmp_path / "v.mp4"
    path.write_bytes(ftyp(b"isom"))
    with pytest.raises(UnprocessableContent, match=r"could not be read within 0\.3 s"):
        plugin.validate(path, video.MP4)


def test_ffprobe_gets_the_forced_demuxer_and_file_protocol_only(tmp_path):
    fake = tmp_path / "echo-ffprobe"
    record = tmp_path / "args"
    fake.write_text(f'#!/bin/sh\necho "$@" > {record}\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = tmp_path / "v.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3webm")
    with pytest.raises(UnprocessableContent):
        VideoPlugin(ffprobe=str(fake)).validate(path, video.WEBM)
    arguments = record.read_text().split()
    assert arguments[arguments.index("-f") + 1] == "matroska"
    assert arguments[arguments.index("-protocol_whitelist") + 1] == "file"
    assert arguments[-1] == str(Path(path))
