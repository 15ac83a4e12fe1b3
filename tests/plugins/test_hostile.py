"""The hostile corpus, over HTTP: each file gets its clear 4xx problem document, and leaves
nothing behind (no temp blob, no partial write, no record, no open upload session).

415: the bytes are of no type this service stores, or not of the type the client asked for.
422: the bytes are of a known type but broken, truncated or dangerous.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest

from tests.api.helpers import assert_problem
from tests.media import (
    SVG_BILLION_LAUGHS,
    SVG_NS,
    SVG_WITH_EXTERNAL_ENTITY,
    SVG_WITH_ONLOAD,
    SVG_WITH_SCRIPT,
    docx_with_member,
    docx_zip_bomb,
    image_bytes,
    needs_ffmpeg,
    pdf_bytes,
    png_bomb,
    random_bytes,
    svg,
    tiny_png,
    wav_bytes,
)


def _xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


def _docm() -> bytes:
    return docx_with_member("word/vbaProject.bin", b"\x00macro")


#: (id, file content, filename, part Content-Type, form fields, status, words the detail has)
CASES: list[tuple[str, Callable[[], bytes], str, str | None, dict[str, str], int, str]] = [
    ("svg-script", lambda: SVG_WITH_SCRIPT, "x.svg", "image/svg+xml", {}, 422, "<script>"),
    ("svg-onload", lambda: SVG_WITH_ONLOAD, "x.svg", None, {}, 422, "event-handler"),
    ("svg-external-entity", lambda: SVG_WITH_EXTERNAL_ENTITY, "x.svg", None, {}, 422, "entit"),
    ("svg-billion-laughs", lambda: SVG_BILLION_LAUGHS, "x.svg", None, {}, 422, "entit"),
    (
        "svg-javascript-url",
        lambda: svg('<a href=" java&#9;script:alert(1)"><text>x</text></a>'),
        "x.svg",
        None,
        {},
        422,
        "script URL",
    ),
    (
        "svg-external-image",
        lambda: svg('<image href="https://tracker.example/pixel.png"/>'),
        "x.svg",
        None,
        {},
        422,
        "external reference",
    ),
    (
        "svg-css-import",
        lambda: svg("<style>@import url(https://evil.example/x.css);</style>"),
        "x.svg",
        None,
        {},
        422,
        "imports",
    ),
    (
        "svg-foreign-object",
        lambda: svg('<foreignObject><div xmlns="http://www.w3.org/1999/xhtml"/></foreignObject>'),
        "x.svg",
        None,
        {},
        422,
        "foreignObject",
    ),
    (
        "svg-animated-handler",
        lambda: svg('<set attributeName="onmouseover" to="alert(1)"/>'),
        "x.svg",
        None,
        {},
        422,
        "event handler",
    ),
    ("png-20000x20000", png_bomb, "big.png", "image/png", {}, 422, "decompression bomb"),
    ("png-truncated", lambda: image_bytes("PNG", 64, 64)[:-30], "t.png", None, {}, 422, "PNG"),
    ("jpeg-truncated", lambda: image_bytes("JPEG", 64, 64)[:300], "t.jpg", None, {}, 422, "JPEG"),
    ("docx-zip-bomb", docx_zip_bomb, "bomb.docx", None, {}, 422, "zip bomb"),
    ("docm-macros", _docm, "macro.docx", None, {}, 415, "macro"),
    ("xlsx", _xlsx, "sheet.docx", None, {}, 415, "Excel"),
    ("pdf-truncated", lambda: pdf_bytes(2)[:-200], "cut.pdf", None, {}, 422, "truncated"),
    (
        "pdf-garbage",
        lambda: b"%PDF-1.7\n" + b"\x00garbage" * 40 + b"\n%%EOF\n",
        "g.pdf",
        None,
        {},
        422,
        "PDF",
    ),
    ("wav-truncated", lambda: wav_bytes(0.5)[:2000], "cut.wav", None, {}, 422, "truncated"),
    (
        "text-with-binary-tail",
        lambda: b"plain start\n" * 800 + b"\x00\x01\x02\x03" * 100,
        "t.txt",
        None,
        {},
        422,
        "binary",
    ),
    (
        "png-renamed-mp3-to-audio-library",
        tiny_png,
        "song.mp3",
        "audio/mpeg",
        {"url": "/api/audio-library"},
        415,
        "expected audio",
    ),
    (
        "png-declared-audio-by-type-field",
        tiny_png,
        "song.mp3",
        None,
        {"type": "audio"},
        415,
        "image",
    ),
    (
        "html-as-image-png",
        lambda: b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        "x.png",
        "image/png",
        {},
        415,
        "HTML",
    ),
    ("html-fragment", lambda: b"<div onclick='x()'>hi</div>", "x.txt", None, {}, 415, "HTML"),
    (
        "xml-not-svg",
        lambda: b'<?xml version="1.0"?><note><to>x</to></note>',
        "n.txt",
        None,
        {},
        415,
        "XML",
    ),
    ("shell-script", lambda: b"#!/bin/sh\nrm -rf /\n", "run.txt", None, {}, 415, "script"),
    ("random-bytes", random_bytes, "data.bin", None, {}, 415, "binary data"),
    ("zip-archive", lambda: _zip_of_text(), "a.zip", None, {}, 415, "ZIP archive"),
    ("wav-declared-video", lambda: wav_bytes(0.2), "a.mp4", "video/mp4", {}, 415, "expected video"),
    (
        "svg-in-image-disguise",
        lambda: svg().replace(b"<svg", b"<svg onload='x()'"),
        "a.png",
        "image/png",
        {},
        422,
        "event-handler",
    ),
    (
        "svg-declaring-xhtml-root",
        lambda: f'<html xmlns="http://www.w3.org/1999/xhtml"><svg {SVG_NS}/></html>'.encode(),
        "x.svg",
        "image/svg+xml",
        {},
        415,
        "HTML",
    ),
]


def _zip_of_text() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "filename", "content_type", "form", "status", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_hostile_upload_is_refused_and_leaves_nothing(
    upload, leftovers, make, filename, content_type, form, status, words
):
    form = dict(form)
    url = form.pop("url", "/api/assets/upload")
    response = await upload(make(), filename, content_type, url=url, **form)
    problem = assert_problem(response, status)
    assert words.lower() in problem["detail"].lower(), problem["detail"]
    await leftovers.assert_clean()


@needs_ffmpeg
async def test_truncated_mp4_without_moov_is_422(upload, leftovers, ffmpeg_corpus):
    content = ffmpeg_corpus["mp4"].read_bytes()
    moov = content.index(b"moov") - 4
    assert moov > content.index(b"mdat"), "ffmpeg wrote the moov atom first"
    response = await upload(content[:moov], "cut.mp4", "video/mp4")
    problem = assert_problem(response, 422)
    assert "moov" in problem["detail"], problem["detail"]
    assert "/" not in problem["detail"], "the server's paths stay private"
    await leftovers.assert_clean()


@needs_ffmpeg
async def test_audio_only_mp4_is_not_a_video(upload, leftovers, tmp_path):
    from tests.media import ffmpeg

    path = tmp_path / "audio-only.mp4"
    ffmpeg(["-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", "-f", "mp4", str(path)])
    response = await upload(path.read_bytes(), "voice.mp4")
    problem = assert_problem(response, 415)
    assert "no video stream" in problem["detail"]
    await leftovers.assert_clean()


async def test_the_server_keeps_serving_after_the_hostile_corpus(upload):
    response = await upload(tiny_png(), "fine.png")
    assert response.status_code == 201, response.text
