"""Video posters and audio waveforms, made by ffmpeg subprocesses with a timeout.

Poster: one frame from about 10 % into the video (a first frame is often black), seeking
before decoding (``-ss`` before ``-i``: the demuxer jumps to the nearest keyframe instead of
decoding everything before it), scaled by ffmpeg to at most 1024 px, then the picture sizes.

Waveform: ffmpeg decodes to raw 32-bit float PCM on a pipe, at the file's own sample rate and
channels; the peaks are folded in as the samples arrive (a chunk at a time, numpy), so a
one-hour recording is never in memory. The signal's own minimum and maximum per bucket,
across channels, not normalised: what wavesurfer.js and peaks.js draw.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

from asset_service.engine.preview_types import (
    PICTURE_SIZES,
    STORED_WAVEFORM_BUCKETS,
    NoPreview,
    PreviewRequest,
    RenderedPreview,
    merge_peaks,
)

from ._pictures import write_sizes

#: bytes read from ffmpeg's pipe at a time
PCM_CHUNK = 1 << 20
#: blocks per stored bucket while decoding (the total sample count is only an estimate)
BLOCKS_PER_BUCKET = 4
POSTER_AT = 0.10


def ffmpeg_command(name: str = "ffmpeg") -> str:
    command = shutil.which(name)
    if command is None:
        raise NoPreview(f"{name} is not installed here: no preview for this file")
    return command


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def _probe(path: Path, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            ffmpeg_command("ffprobe"),
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise NoPreview(f"ffprobe could not read the file: {_last_line(done.stderr)}")
    return json.loads(done.stdout or b"{}")


def video_poster(request: PreviewRequest) -> list[RenderedPreview]:
    deadline = time.monotonic() + request.timeout
    duration = request.duration
    if duration is None:
        duration = float(
            _probe(request.source, request.timeout).get("format", {}).get("duration") or 0
        )
    at = max(0.0, duration * POSTER_AT)
    frame = request.out_dir / "frame.png"
    largest = max(PICTURE_SIZES)
    done = subprocess.run(
        [
            ffmpeg_command(),
            "-nostdin",
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-ss",
            f"{at:.3f}",
            "-i",
            str(request.source),
            "-an",
            "-sn",
            "-frames:v",
            "1",
            "-vf",
            f"scale='min({largest},iw)':'min({largest},ih)':force_original_aspect_ratio=decrease",
            "-y",
            str(frame),
        ],
        capture_output=True,
        timeout=max(1.0, deadline - time.monotonic()),
        check=False,
    )
    if done.returncode != 0 or not frame.exists() or frame.stat().st_size == 0:
        raise NoPreview(f"no frame could be decoded: {_last_line(done.stderr)}")
    with Image.open(frame) as picture:
        picture.load()
        return write_sizes(picture, request)


def _audio_stream(probe: dict[str, Any]) -> tuple[int, int]:
    for stream in probe.get("streams", []):
        if stream.get("codec_type") == "audio":
            rate, channels = int(stream.get("sample_rate") or 0), int(stream.get("channels") or 0)
            if rate > 0 and channels > 0:
                return rate, channels
    raise NoPreview("the file has no audio stream ffmpeg can decode")


def audio_waveform(request: PreviewRequest) -> list[RenderedPreview]:
    import numpy

    deadline = time.monotonic() + request.timeout
    probe = _probe(request.source, request.timeout)
    rate, channels = _audio_stream(probe)
    duration = request.duration or float(probe.get("format", {}).get("duration") or 0)
    expected = max(1, int(duration * rate))
    errors = (request.out_dir / "ffmpeg.log").open("wb")
    per_block = max(1, math.ceil(expected / (STORED_WAVEFORM_BUCKETS * BLOCKS_PER_BUCKET)))
    process = subprocess.Popen(
        [
            ffmpeg_command(),
            "-nostdin",
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-i",
            str(request.source),
            "-vn",
            "-map",
            "0:a:0",
            "-f",
            "f32le",
            "-acodec",
            "pcm_f32le",
            "-",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        # a file, not a pipe: a pipe nobody reads while the PCM is read would fill and stall
        stderr=errors,
    )
    # The pipe is read here; a timer kills ffmpeg at the deadline (the read then ends).
    killer = threading.Timer(max(0.1, deadline - time.monotonic()), process.kill)
    killer.start()
    # Whole blocks at a time into one buffer: each read is reshaped to (blocks, samples of a
    # block, every channel) and reduced along contiguous rows, at memory speed.
    block_bytes = per_block * channels * 4
    buffer = bytearray(max(1, PCM_CHUNK // block_bytes) * block_bytes)
    view = memoryview(buffer)
    minima: list[float] = []
    maxima: list[float] = []
    frames = 0
    try:
        assert process.stdout is not None
        while True:
            filled = 0
            while filled < len(buffer):
                got = process.stdout.readinto(view[filled:])
                if not got:
                    break
                filled += got
            usable = filled - filled % (4 * channels)
            if usable == 0:
                break
            samples = numpy.frombuffer(buffer, dtype="<f4", count=usable // 4)
            frames += usable // (4 * channels)
            whole = (usable // block_bytes) * per_block * channels
            if whole:
                rows = samples[:whole].reshape(-1, per_block * channels)
                minima.extend(rows.min(axis=1).tolist())
                maxima.extend(rows.max(axis=1).tolist())
            if whole < len(samples):  # the last, partial block
                minima.append(float(samples[whole:].min()))
                maxima.append(float(samples[whole:].max()))
            if filled < len(buffer):
                break
        code = process.wait()
    finally:
        errors.close()
        killer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if time.monotonic() >= deadline:
        raise NoPreview(f"decoding took longer than {request.timeout:g} s")
    if code != 0 and frames == 0:
        stderr = (request.out_dir / "ffmpeg.log").read_bytes()[-4096:]
        raise NoPreview(f"the audio could not be decoded: {_last_line(stderr)}")
    if frames == 0:
        raise NoPreview("the audio has no samples")
    blocks = [[lo, hi] for lo, hi in zip(minima, maxima, strict=True)]
    peaks = [
        [round(max(-1.0, lo), 4), round(min(1.0, hi), 4)]
        for lo, hi in merge_peaks(blocks, STORED_WAVEFORM_BUCKETS)
    ]
    document = {"duration": round(frames / rate, 3), "sample_rate": rate, "peaks": peaks}
    path = request.out_dir / "peaks.json"
    path.write_text(json.dumps(document, separators=(",", ":")))
    return [RenderedPreview("peaks", path)]
