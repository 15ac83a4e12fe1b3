"""``python -m bench.previews`` (run by ``make bench``): what previews cost, side by side.

- Thumbnail of a 6000x4000 JPEG: the service's renderer (all four sizes, draft decoding)
  next to Pillow's ``thumbnail()`` on the same file (one size) and ``vipsthumbnail`` when
  libvips is installed; median time and peak RSS growth per concurrent preview (two at once,
  as ``ASSET_PREVIEW_CONCURRENCY`` defaults to).
- Poster of a large MP4 and waveform of a one-hour MP3 (both generated with ffmpeg): time and
  peak RSS, the renderer's process and ffmpeg's.
- Upload throughput with previews on and off, same run, same files, in alternate rounds:
  uploads per second and the median answer time.

Each measurement of memory runs in a fresh process (``ru_maxrss`` is a high-water mark).
Results go to ``bench/results/previews.json``; a Markdown table is printed for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .procs import ROOT, free_port, service_env, service_token, start_service, stop_service

RESULTS = ROOT / "bench" / "results"
MiB = 1024 * 1024

# Runs in a fresh interpreter: prints {"ms": [...], "rss_growth_mib": …, "children_mib": …}.
_MEASURE = r"""
import json, resource, sys, tempfile, threading, time
from pathlib import Path
kind, source, runs, concurrent = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
from PIL import Image
from asset_service.engine.preview_types import PreviewRequest
from asset_service.plugins.builtin import _media_previews, _pictures

def naive(out):
    with Image.open(source) as image:
        image.thumbnail((1024, 1024))
        image.save(out / "naive.webp", "WEBP", quality=80)

def ours(out, render):
    render(PreviewRequest(source, out, "", 600.0, None))

renders = {
    "thumbnail": lambda out: ours(out, _pictures.image_thumbnail),
    "pillow": naive,
    "poster": lambda out: ours(out, _media_previews.video_poster),
    "waveform": lambda out: ours(out, _media_previews.audio_waveform),
}
render = renders[kind]
with tempfile.TemporaryDirectory() as warm:
    # codecs loaded before the baseline
    Image.new("RGB", (8, 8)).save(Path(warm) / "w.webp", "WEBP")
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

times = []
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # resets the peak (VmHWM) to the current RSS
base = status("VmRSS")
for _ in range(runs):
    dirs = [Path(tempfile.mkdtemp()) for _ in range(concurrent)]
    start = time.perf_counter()
    threads = [threading.Thread(target=render, args=(d,)) for d in dirs]
    for t in threads: t.start()
    for t in threads: t.join()
    times.append((time.perf_counter() - start) * 1000)
peak = status("VmHWM")
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"ms": times, "rss_growth_mib": (peak - base) / 1024 / concurrent,
                  "children_mib": children / 1024}))
"""


def log(text: str) -> None:
    print(f"[previews] {text}", file=sys.stderr, flush=True)


def measure(kind: str, source: Path, runs: int, concurrent: int = 1) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, kind, str(source), str(runs), str(concurrent)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )
    found = json.loads(done.stdout)
    return {
        "median_ms": round(statistics.median(found["ms"]), 1),
        "runs": runs,
        "concurrent": concurrent,
        "rss_growth_mib_per_preview": round(found["rss_growth_mib"], 1),
        "ffmpeg_peak_rss_mib": round(found["children_mib"], 1),
    }


def big_jpeg(path: Path) -> None:
    from PIL import Image

    # A photo's worth of detail: smooth colour gradients under mild sensor-like noise, saved
    # as a camera would (quality 90): about 5 MiB, as a 24 MP photo is. Pure noise would be
    # a worst case no camera writes (12 MiB, twice the entropy decoding).
    size = (6000, 4000)
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    colours = Image.merge("RGB", (red, green, blue))
    noise = Image.effect_noise(size, 24).convert("RGB")
    Image.blend(colours, noise, 0.25).save(path, "JPEG", quality=90)


def vipsthumbnail(source: Path, runs: int) -> dict[str, Any] | None:
    command = shutil.which("vipsthumbnail")
    if command is None:
        return None
    times, peak = [], 0
    with tempfile.TemporaryDirectory() as out:
        for _ in range(runs):
            start = time.perf_counter()
            done = subprocess.run(
                ["/usr/bin/time", "-f", "%M", command, str(source), "-s", "1024",
                 "-o", f"{out}/t.webp[Q=80]"],
                capture_output=True, text=True, timeout=120, check=True,
            )  # fmt: skip
            times.append((time.perf_counter() - start) * 1000)
            peak = max(peak, int(done.stderr.strip().splitlines()[-1]))
    return {"median_ms": round(statistics.median(times), 1), "runs": runs,
            "peak_rss_mib": round(peak / 1024, 1)}  # fmt: skip


def ffmpeg(*arguments: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *arguments],
        check=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )


def big_mp4(path: Path, mib: int) -> None:
    """A 1080p MP4 of at least ``mib`` MiB: 40 s encoded at a high bitrate, then that clip
    repeated without re-encoding (``-stream_loop``, stream copy) until it is large enough —
    encoding a whole GiB would take this machine many minutes."""
    seconds = 40
    bitrate = 300 * 8 * MiB // seconds
    clip = path.with_name("clip.mp4")
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=25:duration={seconds}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-b:v", str(bitrate)),
        *("-maxrate", str(bitrate), "-bufsize", str(bitrate), "-pix_fmt", "yuv420p", str(clip)),
    )
    repeats = max(1, math.ceil(mib * MiB / clip.stat().st_size))
    if repeats == 1:
        clip.rename(path)
        return
    ffmpeg("-stream_loop", str(repeats - 1), "-i", str(clip), "-c", "copy", str(path))
    clip.unlink()


def long_mp3(path: Path, seconds: int) -> None:
    ffmpeg(
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"),
        *("-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(path)),
    )


def upload_throughput(
    directory: Path, files: list[bytes], clients: int, rounds: int
) -> dict[str, Any]:
    """Uploads per second into a server with previews off and one with them on, measured in
    alternate rounds (off, on, off, on…) so that a change of the shared machine's load falls on
    both alike; after each round of the ``on`` server its previews are let finish unmeasured,
    so that they do not run under the next ``off`` round."""
    servers: dict[str, tuple[subprocess.Popen[bytes], str, dict[str, str]]] = {}
    try:
        for previews in ("off", "on"):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = service_env(directory / f"data-{previews}", port, previews=previews)
            process = start_service(env, directory / f"server-{previews}.log", base)
            servers[previews] = (process, base, {"Authorization": f"Bearer {service_token(env)}"})
        # Unmeasured: the first uploads start the preview workers (a spawned interpreter
        # each) and warm the servers' caches; the figures are the steady state.
        for _process, base, headers in servers.values():
            wait_previews(base, headers, upload_round(base, headers, files, clients, clients)[1])
        latencies: dict[str, list[float]] = {"off": [], "on": []}
        walls = {"off": 0.0, "on": 0.0}
        for _ in range(rounds):
            for previews, (_process, base, headers) in servers.items():
                start = time.perf_counter()
                times, ids = upload_round(base, headers, files, len(files) * 2, clients)
                walls[previews] += time.perf_counter() - start
                latencies[previews] += times
                wait_previews(base, headers, ids)
    finally:
        for process, *_ in servers.values():
            stop_service(process)
    return {
        previews: {
            "uploads": len(latencies[previews]),
            "clients": clients,
            "rounds": rounds,
            "uploads_per_s": round(len(latencies[previews]) / walls[previews], 2),
            "median_ms": round(statistics.median(latencies[previews]) * 1000, 1),
        }
        for previews in ("off", "on")
    }


def upload_round(
    base: str, headers: dict[str, str], files: list[bytes], count: int, clients: int
) -> tuple[list[float], list[str]]:
    """``count`` uploads by ``clients`` at once: each answer's time, and the assets' ids."""

    def one(index: int) -> tuple[float, str]:
        content = files[index % len(files)]
        with httpx.Client(base_url=base, timeout=120) as client:
            start = time.perf_counter()
            response = client.post(
                "/api/assets/upload",
                headers=headers,
                files={"file": (f"p{index}.jpg", content, "image/jpeg")},
            )
            elapsed = time.perf_counter() - start
            response.raise_for_status()
            return elapsed, response.json()["asset_id"]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(one, range(count)))
    return [elapsed for elapsed, _ in answers], [asset_id for _, asset_id in answers]


def wait_previews(base: str, headers: dict[str, str], asset_ids: list[str]) -> None:
    """Until no preview of these assets is pending (a server with previews off has none)."""
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for asset_id in reversed(asset_ids):
            while time.monotonic() < deadline:
                asset = client.get(f"/api/assets/{asset_id}").raise_for_status().json()
                if all(p["status"] != "pending" for p in asset.get("previews", [])):
                    break
                time.sleep(0.1)


def photo(seed: int) -> bytes:
    import io

    from PIL import Image

    noise = Image.effect_noise((2400, 1600), 30 + seed).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=90)
    return out.getvalue()


def markdown(results: dict[str, Any]) -> str:
    thumb = results["thumbnail"]
    rows = [
        "| measurement | median | peak RSS |",
        "|---|---|---|",
        f"| 6000x4000 JPEG → 4 WEBP sizes, service renderer | "
        f"{thumb['ours']['median_ms']} ms | +{thumb['ours']['rss_growth_mib_per_preview']} MiB "
        "per preview |",
        f"| same file, Pillow `thumbnail()` → 1 WEBP | "
        f"{thumb['pillow']['median_ms']} ms | +{thumb['pillow']['rss_growth_mib_per_preview']} "
        "MiB per preview |",
    ]
    if thumb.get("vips"):
        rows.append(
            f"| same file, `vipsthumbnail -s 1024` (1 at a time, process) | "
            f"{thumb['vips']['median_ms']} ms | {thumb['vips']['peak_rss_mib']} MiB |"
        )
    poster, wave = results["poster"], results["waveform"]
    rows += [
        f"| poster of a {poster['file_mib']} MiB 1080p MP4 | {poster['median_ms']} ms | "
        f"+{poster['rss_growth_mib_per_preview']} MiB (Python), "
        f"{poster['ffmpeg_peak_rss_mib']} MiB (ffmpeg) |",
        f"| waveform of a {wave['seconds'] // 60}-minute MP3 ({wave['file_mib']} MiB) | "
        f"{wave['median_ms']} ms | +{wave['rss_growth_mib_per_preview']} MiB (Python), "
        f"{wave['ffmpeg_peak_rss_mib']} MiB (ffmpeg) |",
    ]
    up = results["uploads"]
    rows += [
        "",
        "| uploads of 2400x1600 JPEGs | uploads/s | median answer |",
        "|---|---|---|",
        f"| previews off | {up['off']['uploads_per_s']} | {up['off']['median_ms']} ms |",
        f"| previews on | {up['on']['uploads_per_s']} | {up['on']['median_ms']} ms |",
        f"| on / off | {up['ratio_throughput']} | {up['ratio_median']} |",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.previews")
    parser.add_argument("--quick", action="store_true", help="smaller files, fewer runs")
    parser.add_argument("--video-mib", type=int, default=1024)
    parser.add_argument("--audio-minutes", type=int, default=60)
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 7
    video_mib = 64 if args.quick else args.video_mib
    audio_seconds = 600 if args.quick else args.audio_minutes * 60
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-previews-") as tmp:
        directory = Path(tmp)
        jpeg = directory / "big.jpg"
        big_jpeg(jpeg)
        log(f"6000x4000 JPEG: {jpeg.stat().st_size / MiB:.1f} MiB")
        results["thumbnail"] = {
            "file_mib": round(jpeg.stat().st_size / MiB, 1),
            # time: one at a time; memory: two at once (the default concurrency), per preview
            "ours": {
                **measure("thumbnail", jpeg, runs),
                "rss_growth_mib_per_preview": measure("thumbnail", jpeg, 2, concurrent=2)[
                    "rss_growth_mib_per_preview"
                ],
            },
            "pillow": {
                **measure("pillow", jpeg, runs),
                "rss_growth_mib_per_preview": measure("pillow", jpeg, 2, concurrent=2)[
                    "rss_growth_mib_per_preview"
                ],
            },
            "vips": vipsthumbnail(jpeg, runs),
        }
        log(f"thumbnail: {results['thumbnail']}")
        mp4 = directory / "big.mp4"
        big_mp4(mp4, video_mib)
        results["poster"] = {
            "file_mib": round(mp4.stat().st_size / MiB),
            **measure("poster", mp4, runs),
        }
        log(f"poster: {results['poster']}")
        mp4.unlink()
        mp3 = directory / "long.mp3"
        long_mp3(mp3, audio_seconds)
        results["waveform"] = {
            "seconds": audio_seconds,
            "file_mib": round(mp3.stat().st_size / MiB),
            **measure("waveform", mp3, max(1, runs // 3)),
        }
        log(f"waveform: {results['waveform']}")
        files = [photo(seed) for seed in range(4 if args.quick else 10)]
        clients = 4
        uploads = upload_throughput(directory, files, clients, rounds=2 if args.quick else 5)
        off, on = uploads["off"], uploads["on"]
        results["uploads"] = {
            "off": off,
            "on": on,
            "ratio_throughput": round(on["uploads_per_s"] / off["uploads_per_s"], 2),
            "ratio_median": round(on["median_ms"] / off["median_ms"], 2),
        }
        log(f"uploads: {results['uploads']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "previews.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
