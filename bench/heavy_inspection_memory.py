#!/usr/bin/env python3
"""Memory of decoding large images at once: the reference against the service's way.

Writes an RGBA PNG of ``--side`` x ``--side`` pixels (8 900 by default: 79 Mpx, under the image
plugin's 80 Mpx limit), then runs two scenarios, each in a fresh Python process, that validate
and describe ``--count`` copies of it at once with the built-in image plugin:

- ``reference``: every inspection on Trio's default thread limiter (40 threads), nothing
  returned to the system afterwards — the service before issue 13;
- ``service``: the engine's way (``engine/_upload.py``): ``Detected.heavy`` inspections on a
  limiter of ``--limit`` threads (``ASSET_HEAVY_INSPECTIONS``), ``malloc_trim`` after each.

Each process samples its own RSS (``/proc/self/status``) every 10 ms and reports the baseline
(plugin loaded), the peak, and the RSS once everything is done. Linux only.

    python bench/heavy_inspection_memory.py                 # 3 images, limit 2
    python bench/heavy_inspection_memory.py --count 4 --limit 1

Writes bench/results/heavy_inspection_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "heavy_inspection_memory.json"
MiB = 1024**2


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def write_png(path: Path, side: int) -> None:
    from PIL import Image

    # a gradient, not one colour: a realistic IDAT (a constant image compresses to nothing)
    row = Image.linear_gradient("L").resize((side, 1))
    image = Image.merge("RGBA", [row.resize((side, side))] * 4)
    image.save(path, compress_level=1)
    image.close()


def child(mode: str, png: Path, count: int, limit: int) -> dict[str, float]:
    """One scenario, in this (fresh) process."""
    import trio

    from asset_service.engine.upload_actor import _inspect
    from asset_service.plugins.builtin.image import PNG, ImagePlugin

    plugin = ImagePlugin()

    class Inspector:
        """The image plugin behind the engine's port (as the plugin manager does)."""

        def validate(self, path: Path, detected: object) -> None:
            plugin.validate(path, detected)

        def describe(self, path: Path, detected: object) -> object:
            return plugin.extract_metadata(path, detected)

    inspector = Inspector()
    baseline = rss_bytes()
    peak = baseline
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, rss_bytes())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def reference_inspection() -> None:
        inspector.validate(png, PNG)
        inspector.describe(png, PNG)

    async def main() -> None:
        heavy = trio.CapacityLimiter(limit)
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                if mode == "reference":
                    nursery.start_soon(trio.to_thread.run_sync, reference_inspection)
                else:
                    nursery.start_soon(
                        lambda: trio.to_thread.run_sync(
                            _inspect, inspector, png, PNG, limiter=heavy
                        )
                    )

    started = time.perf_counter()
    trio.run(main)
    seconds = time.perf_counter() - started
    time.sleep(0.2)
    sampling = False
    sampler.join()
    return {
        "baseline_mib": baseline / MiB,
        "peak_mib": peak / MiB,
        "after_mib": rss_bytes() / MiB,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=8900)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--child", choices=("reference", "service"))
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.png, args.count, args.limit)))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        png = Path(scratch) / "large.png"
        write_png(png, args.side)
        report: dict[str, object] = {
            "pixels": args.side * args.side,
            "png_mib": round(png.stat().st_size / MiB, 1),
            "count": args.count,
            "limit": args.limit,
        }
        for mode in ("reference", "service"):
            command = [sys.executable, __file__, "--child", mode, "--png", str(png)]
            command += ["--count", str(args.count), "--limit", str(args.limit)]
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                timeout=600,
            )
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            report[mode] = {key: round(value, 1) for key, value in measured.items()}
            print(
                f"{mode:9}  baseline {measured['baseline_mib']:6.0f} MiB   "
                f"peak {measured['peak_mib']:6.0f} MiB   after {measured['after_mib']:6.0f} MiB"
                f"   {measured['seconds']:5.1f} s"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
