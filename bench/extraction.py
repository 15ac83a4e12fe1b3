"""What inspecting an upload costs per built-in type: the plugin manager's ``sniff``, then
``validate`` and ``describe`` (the plugins' ``extract_metadata``) on a file made by
``tests/media.py``'s generators, as the upload path calls them (in a worker thread, off the
event loop). Compressed audio and video need ffmpeg to be made and ffprobe to be read; without
them those formats are skipped, saying so."""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .servers import ROOT


def corpus(directory: Path) -> tuple[dict[str, tuple[str, Path]], list[str]]:
    """``format -> (asset type, file)`` and the notes on what was skipped."""
    from tests import media

    made: dict[str, tuple[str, Path]] = {}
    notes: list[str] = []

    def write(fmt: str, kind: str, name: str, make: Callable[[], bytes]) -> None:
        path = directory / name
        path.write_bytes(make())
        made[fmt] = (kind, path)

    write("png 1024x768", "image", "image.png", lambda: media.image_bytes("PNG", 1024, 768))
    write("jpeg 1024x768 +exif", "image", "photo.jpg", lambda: media.jpeg_with_exif(1024, 768))
    write("svg", "image", "drawing.svg", lambda: media.svg())
    write("wav 10 s", "audio", "tone.wav", lambda: media.wav_bytes(10.0, 44_100, 2))
    write("pdf 20 pages", "document", "report.pdf", lambda: media.pdf_bytes(20))
    write("docx", "document", "notes.docx", lambda: media.docx_bytes())
    write("txt", "document", "notes.txt", lambda: media.TEXT * 50)
    if media.FFMPEG and media.FFPROBE:
        for name in ("mp3", "flac"):
            made[name] = ("audio", media.make_audio(directory, name))
        for name in ("mp4", "webm"):
            made[f"{name} 1 s 64x48"] = ("video", media.make_video(directory, name))
    else:
        notes.append("ffmpeg/ffprobe missing: mp3, flac, mp4 and webm not measured")
    return made, notes


def measure(directory: Path, runs: int) -> dict[str, Any]:
    """ms per file (median of ``runs``) for each format, with the file's size."""
    from asset_service.plugins.loading import load_plugins

    inspector = load_plugins(ROOT / "plugins.toml")
    files, notes = corpus(directory)
    results: dict[str, Any] = {}
    for fmt, (kind, original) in files.items():
        head = original.read_bytes()[:8192]
        times: list[float] = []
        for run in range(runs):
            # A new file each time, as every upload is: the plugins keep what ``validate``
            # found for ``describe`` by the file's identity (inode, size, mtime).
            path = original.with_name(f"{run}-{original.name}")
            shutil.copyfile(original, path)
            started = time.perf_counter()
            detected = inspector.sniff(head, path.name)
            assert detected is not None and detected.type == kind, (fmt, detected)
            inspector.validate(path, detected)
            inspector.describe(path, detected)
            times.append((time.perf_counter() - started) * 1000)
            path.unlink()
        results[fmt] = {
            "type": kind,
            "bytes": original.stat().st_size,
            "ms": round(statistics.median(times), 2),
            "all_ms": [round(t, 2) for t in times],
        }
    return {"formats": results, "notes": notes}


def ensure_tests_importable() -> None:
    """``tests/media.py`` is imported as ``tests.media`` from the repository root."""
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
