#!/usr/bin/env python3
"""Upload a large file to the real server and watch the server's memory.

Starts ``asset-service serve`` as a subprocess on a free 127.0.0.1 port with a temporary data
dir, writes a file of pseudo-random bytes (a valid WAV: a 44-byte header and random PCM, so any
audio plugin accepts it), uploads it with curl (which streams from disk), samples the server's
RSS from /proc every 50 ms, downloads it back with curl and compares the sha256.

    python bench/upload_memory.py               # 2 GiB
    python bench/upload_memory.py --quick       # 256 MiB
    python bench/upload_memory.py --size-gib 4 --max-rss-mib 200

Prints a short report and writes it as JSON to bench/results/upload_memory.json. Exits 1 if the
round trip fails or the server's peak RSS exceeds --max-rss-mib. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import free_port, service_env, service_token, start_service, status_kib, stop_service

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "upload_memory.json"
MiB = 1024**2
GiB = 1024**3
BLOCK = 1 * MiB


# --- the test file -----------------------------------------------------------------------


def wav_header(data_bytes: int, rate: int = 48_000, channels: int = 2, bits: int = 16) -> bytes:
    block_align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block_align, block_align, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def write_random_wav(path: Path, size: int) -> str:
    """A ``size``-byte WAV of random samples; returns its sha256."""
    header = wav_header(size - 44)
    digest = hashlib.sha256(header)
    written = len(header)
    with open(path, "wb") as handle:
        handle.write(header)
        while written < size:
            block = os.urandom(min(BLOCK, size - written))
            handle.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


# --- the server --------------------------------------------------------------------------


# --- memory ------------------------------------------------------------------------------


@dataclass
class RssSampler:
    """Samples VmRSS of ``pid`` every ``interval`` seconds in a thread, while in a ``with``."""

    pid: int
    interval: float = 0.05
    samples_kib: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = status_kib(self.pid, "VmRSS")
            if rss is not None:
                self.samples_kib.append(rss)
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        return max(self.samples_kib, default=0) / 1024


# --- curl --------------------------------------------------------------------------------


def curl(args: list[str], timeout: float) -> tuple[str, float]:
    """Run curl; its ``-w`` output and the wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"curl failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout, elapsed


def curl_sha256(args: list[str], timeout: float) -> tuple[str, int, str, float]:
    """Download with curl to its stdout and hash the bytes as they come (no disk in the way):
    the HTTP status, the byte count, the sha256 and the wall time."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    digest = hashlib.sha256()
    count = 0
    process = subprocess.Popen(
        ["curl", "-sS", "--noproxy", "*", "-o", "-", "-w", "%{stderr}%{http_code}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    # The deadline is enforced by a timer: a read that blocks forever is ended by the kill.
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        assert process.stdout is not None and process.stderr is not None
        while block := process.stdout.read(BLOCK):
            digest.update(block)
            count += len(block)
        stderr = process.stderr.read().decode(errors="replace")
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    elapsed = time.perf_counter() - started
    if time.monotonic() >= deadline:
        raise RuntimeError(f"the download took longer than {timeout:.0f} s")
    if returncode != 0:
        raise RuntimeError(f"curl failed ({returncode}): {stderr.strip()}")
    return stderr.strip()[-3:], count, digest.hexdigest(), elapsed


# --- the run -----------------------------------------------------------------------------


def run(size: int, tmp_root: str | None, timeout: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="asset-bench-", dir=tmp_root))
    process: subprocess.Popen[bytes] | None = None
    log_path = work / "server.log"
    try:
        source = work / "bench.wav"
        started = time.perf_counter()
        expected = write_random_wav(source, size)
        print(
            f"wrote {size / MiB:.0f} MiB in {time.perf_counter() - started:.1f} s "
            f"(sha256 {expected[:16]}…)",
            flush=True,
        )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = service_env(work / "data", port, max_upload_bytes=str(size + 64 * MiB))
        process = start_service(env, log_path, base)
        token = service_token(env)
        auth = ["-H", f"Authorization: Bearer {token}"]
        time.sleep(0.5)  # let the server settle after start-up before the baseline
        baseline_kib = status_kib(process.pid, "VmRSS") or 0

        response = work / "upload.json"
        with RssSampler(process.pid) as upload_rss:
            status, upload_s = curl(
                [
                    *auth,
                    "-H",
                    "Expect:",  # no 100-continue round trip
                    "-F",
                    f"file=@{source};type=audio/wav",
                    "-F",
                    "name=bench.wav",
                    "-o",
                    str(response),
                    "-w",
                    "%{http_code}",
                    f"{base}/api/assets/upload",
                ],
                timeout,
            )
        body = response.read_text()
        if status != "201":
            raise RuntimeError(f"upload answered {status}: {body[:500]}")
        asset = json.loads(body)
        asset_id = asset["asset_id"]

        with RssSampler(process.pid) as download_rss:
            status, downloaded, actual, download_s = curl_sha256(
                [*auth, f"{base}/api/assets/{asset_id}/download"], timeout
            )
        if status != "200":
            raise RuntimeError(f"download answered {status}")
        hwm_kib = status_kib(process.pid, "VmHWM") or 0
        return {
            "size_bytes": size,
            "size_mib": round(size / MiB, 1),
            "upload_s": round(upload_s, 3),
            "upload_mib_s": round(size / MiB / upload_s, 1),
            "download_s": round(download_s, 3),
            "download_mib_s": round(size / MiB / download_s, 1),
            "baseline_rss_mib": round(baseline_kib / 1024, 1),
            "upload_peak_rss_mib": round(upload_rss.peak_mib, 1),
            "download_peak_rss_mib": round(download_rss.peak_mib, 1),
            "server_peak_rss_mib": round(max(upload_rss.peak_mib, download_rss.peak_mib), 1),
            "server_vmhwm_mib": round(hwm_kib / 1024, 1),
            "rss_samples": len(upload_rss.samples_kib) + len(download_rss.samples_kib),
            "sha256": expected,
            "server_checksum_ok": asset.get("checksum") == expected,
            "downloaded_bytes": downloaded,
            "sha256_ok": actual == expected and downloaded == size,
        }
    except Exception:
        if log_path.exists():
            tail = log_path.read_text(errors="replace")[-3000:]
            if tail.strip():
                print(f"--- server log (tail) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        if process is not None:
            stop_service(process)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0, help="file size (default 2)")
    parser.add_argument("--quick", action="store_true", help="256 MiB instead")
    parser.add_argument(
        "--max-rss-mib", type=float, default=150.0, help="fail above this server peak RSS"
    )
    parser.add_argument("--tmp-dir", default=None, help="where the file and data dir go")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per transfer (default by size)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        parser.error("curl is needed")
    size = 256 * MiB if args.quick else int(args.size_gib * GiB)
    if size < 1 * MiB:
        parser.error("the file must be at least 1 MiB")
    # At worst 10 MiB/s, and never less than two minutes.
    timeout = args.timeout or max(120.0, size / MiB / 10)

    result = run(size, args.tmp_dir, timeout)
    result.update(
        max_rss_mib=args.max_rss_mib,
        rss_ok=result["server_vmhwm_mib"] < args.max_rss_mib,
        when=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        python=platform.python_version(),
        cpus=os.cpu_count(),
    )
    ok = bool(result["sha256_ok"] and result["server_checksum_ok"] and result["rss_ok"])
    result["ok"] = ok
    print(
        f"\nupload   {result['size_mib']:.0f} MiB: {result['upload_mib_s']:>8} MiB/s "
        f"({result['upload_s']} s)\n"
        f"download {result['size_mib']:.0f} MiB: {result['download_mib_s']:>8} MiB/s "
        f"({result['download_s']} s)\n"
        f"server RSS: baseline {result['baseline_rss_mib']} MiB, peak during upload "
        f"{result['upload_peak_rss_mib']} MiB, during download "
        f"{result['download_peak_rss_mib']} MiB, VmHWM {result['server_vmhwm_mib']} MiB "
        f"(limit {args.max_rss_mib:.0f})\n"
        f"sha256 {'ok' if result['sha256_ok'] else 'MISMATCH'}, server checksum "
        f"{'ok' if result['server_checksum_ok'] else 'MISMATCH'}\n"
        f"{'OK' if ok else 'FAILED'}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
