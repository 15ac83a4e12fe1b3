"""Every core: the service with 1 and 2 workers next to the same-shaped references, one run.

Every server is started first and measured in turn, run by run, while the others idle (the
client shares the machine with the one measured), each over the same file:

- ranges: 1 MiB at random offsets, 8 keep-alive connections, ``--seconds`` each —
  the service with ``ASSET_WORKERS`` 1 and 2; the floor of this stack, a bare ASGI app on
  Hypercorn's Trio worker serving the same ranges with ``pread`` (``bench/bare_ranges.py``) with
  1 and 2 workers; nginx with ``worker_processes`` 1 and 2 (sendfile); FastAPI on uvicorn with 2
  workers; and the production shape of a download, the service x2 with
  ``ASSET_ACCEL_REDIRECT_PREFIX`` behind an nginx x2 that sends the file (``ACCEL``);
- with 2 workers everywhere: the whole file downloaded on one connection, and uploaded as
  multipart/form-data to the service and to FastAPI's ``UploadFile``.

    python -m bench.workers                # 256 MiB, 3 runs of each figure
    python -m bench.workers --quick        # 64 MiB, 1 run

Prints every figure and the ratios the production issue asks for; writes
bench/results/workers.json and, on a full run, the workers block of BENCHMARKS.md. Part of
`make bench`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import Connection, random_range, run_load
from .procs import free_port
from .run import machine, upload, write_random_wav
from .servers import (
    AccelFront,
    FastAPIReference,
    Nginx,
    OurServer,
    Server,
    ensure_nginx,
    new_secret,
    static_server_block,
    stop_process,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "workers.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
BLOCK_START = "<!-- bench:workers:start (written by `make bench`; edit outside this block) -->"
BLOCK_END = "<!-- bench:workers:end -->"
MiB = 1024 * 1024
FILE_NAME = "asset.wav"
#: the service x2 answering downloads with X-Accel-Redirect behind nginx x2 (BENCHMARKS.md,
#: "Handing downloads to nginx"): the same token and URL as "ours x2", through nginx
ACCEL = "ours x2 + nginx (X-Accel-Redirect)"
#: the servers whose whole-file download is measured (2 workers everywhere)
DOWNLOADED = ("ours x2", "fastapi x2", "nginx x2", ACCEL)


class BareRanges(Server):
    def __init__(self, files: Path, log: Path, *, workers: int) -> None:
        self.files, self.log, self.workers = files, log, workers
        self.label = f"bare hypercorn-trio x{workers}"

    def start(self, timeout: float = 60.0) -> BareRanges:
        port = free_port()
        env = {**os.environ, "BENCH_REF_FILES": str(self.files)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "hypercorn", "-k", "trio"),
                    *("-w", str(self.workers), "-b", f"127.0.0.1:{port}"),
                    "bench.bare_ranges:app",
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.serving(port, "/healthz", timeout)

    def stop(self) -> None:
        # hypercorn's workers are its children: the whole session goes
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        stop_process(self.process)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def ranges(server: Server, path: str, headers: dict[str, str], size: int, seconds: float) -> float:
    pick = random_range(size, MiB)

    def make(rng: Any) -> tuple[str, dict[str, str]]:
        return path, {**headers, "Range": pick(rng)}

    result = run_load(
        server.base_url,
        make,
        connections=8,
        max_requests=200_000,
        max_seconds=seconds,
        expect=(206,),
        expect_length=MiB,
    )
    if result.errors:
        raise RuntimeError(f"ranges on {server.label}: {result.errors[:2]}")
    return result.per_second


def download(server: Server, path: str, headers: dict[str, str], size: int) -> float:
    with Connection(server.base_url, timeout=600) as connection:
        started = time.perf_counter()
        response = connection.request("GET", path, headers)
        seconds = time.perf_counter() - started
    if response.status != 200 or response.length != size:
        raise RuntimeError(f"download from {server.label}: {response.status}, {response.length}")
    return size / MiB / seconds


def handed_to_nginx(server: AccelFront, path: str, headers: dict[str, str]) -> None:
    """The service behind the front nginx answers the download with X-Accel-Redirect and no
    body: else its row would measure Python's copy through a proxy, not nginx's sendfile."""
    with Connection(server.app.base_url, timeout=60) as connection:
        response = connection.request("GET", path, headers)
    redirect = response.header("x-accel-redirect") or ""
    if response.status != 200 or response.length != 0 or not redirect.startswith(server.prefix):
        raise RuntimeError(
            f"{server.label}: the service answered {response.status}, "
            f"{response.length} bytes, X-Accel-Redirect {redirect!r}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, one run of each")
    parser.add_argument("--size-mib", type=int, help="the file (default 256)")
    parser.add_argument("--runs", type=int, help="runs of each figure (default 3)")
    parser.add_argument("--seconds", type=float, help="seconds of each range load (default 5)")
    args = parser.parse_args(argv)
    size = (args.size_mib or (64 if args.quick else 256)) * MiB
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    notes: list[str] = []
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "size_mib": size // MiB,
        "runs": runs,
        "range_seconds": seconds,
    }
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as work_dir:
        work = Path(work_dir)
        files = work / "files"
        files.mkdir()
        sha256 = write_random_wav(files / FILE_NAME, size)
        secret = new_secret()
        data = work / "data"
        nginx_binary = ensure_nginx(notes)

        def ours(workers: int) -> OurServer:
            return OurServer(
                data,
                work / f"ours-{workers}.log",
                secret=secret,
                label=f"ours x{workers}",
                # Previews would render the WAV's waveform in the background after every
                # upload, on the cores the next measurement uses; the 201 never waits for them.
                extra_env={"ASSET_WORKERS": str(workers), "ASSET_PREVIEWS": "off"},
            )

        # the file, stored once in the service's data dir
        with ours(1).start() as server:
            token = server.token(role="admin")
            auth = {"Authorization": f"Bearer {token}"}
            stored = upload(server, "/api/assets/upload", auth, files / FILE_NAME, 600)
        assert stored["checksum"] == sha256
        ours_path = f"/api/assets/{stored['asset_id']}/download"
        static_path = f"/files/{FILE_NAME}"

        contenders: list[tuple[str, Callable[[], Server], str, dict[str, str]]] = [
            ("ours x1", lambda: ours(1), ours_path, auth),
            ("ours x2", lambda: ours(2), ours_path, auth),
            ("bare x1", lambda: BareRanges(files, work / "bare1.log", workers=1), static_path, {}),
            ("bare x2", lambda: BareRanges(files, work / "bare2.log", workers=2), static_path, {}),
            (
                "fastapi x2",
                lambda: FastAPIReference(files, work / "fa", work / "fa.log", workers=2),
                static_path,
                {},
            ),
        ]
        if nginx_binary:
            for count in (1, 2):
                contenders.append(
                    (
                        f"nginx x{count}",
                        lambda count=count: Nginx(
                            nginx_binary,
                            work / f"nginx{count}",
                            label=f"nginx x{count}",
                            server_block=static_server_block(files),
                            workers=str(count),
                        ),
                        static_path,
                        {},
                    )
                )
            contenders.append(
                (
                    ACCEL,
                    lambda: AccelFront(
                        nginx_binary,
                        OurServer(
                            data,
                            work / "ours-accel.log",
                            secret=secret,
                            label="ours x2 (X-Accel)",
                            extra_env={"ASSET_WORKERS": "2", "ASSET_PREVIEWS": "off"},
                        ),
                        work / "accel-nginx",
                        label=ACCEL,
                        workers="2",
                    ),
                    ours_path,
                    auth,
                )
            )
        range_rates: dict[str, list[float]] = {name: [] for name, *_ in contenders}
        downloads: dict[str, list[float]] = {}
        uploads: dict[str, list[float]] = {}
        with contextlib.ExitStack() as running:
            servers: dict[str, Server] = {}
            for name, make, *_ in contenders:
                server = make()
                running.callback(server.stop)
                server.start()  # type: ignore[attr-defined]
                servers[name] = server
            if ACCEL in servers:
                handed_to_nginx(servers[ACCEL], ours_path, auth)  # type: ignore[arg-type]
            # Run by run, every server in turn (the others idle): a change in the machine's
            # load falls on all of them alike, not on whichever was measured then.
            for run in range(runs):
                for name, _make, path, headers in contenders:
                    server = servers[name]
                    range_rates[name].append(ranges(server, path, headers, size, seconds))
                    if name in DOWNLOADED:
                        downloads.setdefault(name, []).append(download(server, path, headers, size))
                    if name in ("ours x2", "fastapi x2"):
                        target = "/api/assets/upload" if name == "ours x2" else "/upload"
                        started = time.perf_counter()
                        body = upload(server, target, headers, files / FILE_NAME, 600)
                        uploads.setdefault(name, []).append(
                            size / MiB / (time.perf_counter() - started)
                        )
                        if body.get("checksum") != sha256:
                            raise RuntimeError(f"upload to {name}: checksum differs: {body}")
                    print(f"run {run + 1}: {name}: ranges {range_rates[name][-1]:.0f} req/s")
    rates = {name: round(median(values), 1) for name, values in range_rates.items()}
    results["ranges_req_s"] = rates
    results["download_mib_s"] = {k: round(median(v), 1) for k, v in downloads.items()}
    results["upload_mib_s"] = {k: round(median(v), 1) for k, v in uploads.items()}
    mib_s = results["download_mib_s"]
    targets = [
        ("2 workers / 1 worker (ranges)", "ours x2", "ours x1", rates, 1.7),
        ("per worker: x1 / bare Hypercorn-Trio x1 (ranges)", "ours x1", "bare x1", rates, 0.9),
        ("per worker: x2 / bare Hypercorn-Trio x2 (ranges)", "ours x2", "bare x2", rates, 0.9),
        ("x2 ranges / FastAPI x2", "ours x2", "fastapi x2", rates, 1.5),
        ("x2 ranges / nginx x2", "ours x2", "nginx x2", rates, 0.25),
        # The same two targets in the production shape: the service authorises, nginx sends.
        ("x2 ranges via nginx accel / nginx x2", ACCEL, "nginx x2", rates, 0.25),
        ("x2 download / nginx x2", "ours x2", "nginx x2", mib_s, 1.0),
        ("x2 download via nginx accel / nginx x2", ACCEL, "nginx x2", mib_s, 1.0),
        ("x2 upload / FastAPI x2", "ours x2", "fastapi x2", results["upload_mib_s"], 2.0),
        # What this machine lets a second process add, with the client on the same cores:
        # the service's scaling is read against these.
        ("reference: bare x2 / bare x1 (ranges)", "bare x2", "bare x1", rates, None),
        ("reference: nginx x2 / nginx x1 (ranges)", "nginx x2", "nginx x1", rates, None),
    ]
    rows = []
    print()
    for label, ours_name, reference, table, goal in targets:
        if ours_name not in table or reference not in table or not table[reference]:
            continue
        ratio = table[ours_name] / table[reference]
        met = None if goal is None else ratio >= goal
        rows.append({"what": label, "ratio": round(ratio, 2), "target": goal, "met": met})
        verdict = (
            "(no target)" if goal is None else f"(target >= {goal}) " + ("met" if met else "MISSED")
        )
        print(f"{label:52} {ratio:5.2f}  {verdict}")
    results["targets"] = rows
    results["notes"] = notes
    print(json.dumps({k: results[k] for k in ("ranges_req_s", "download_mib_s", "upload_mib_s")}))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS}")
    if not args.quick and write_markdown(markdown(results)):
        print(f"written: {MARKDOWN.name}, the workers block")
    return 0


def markdown(results: dict[str, Any]) -> str:
    """The block of BENCHMARKS.md: the run, the ratios against their targets, the figures."""
    host = results["machine"]
    lines = [
        f"Run of {results['when']}: each figure the median of {results['runs']} runs; "
        f"files of {results['size_mib']} MiB, ranges for {results['range_seconds']:g} s each. "
        f"Machine: {host.get('nproc')} cores, load average "
        f"{host.get('load_average_at_start')} at the start.",
        "",
        "| ratio | measured | target | |",
        "|---|---|---|---|",
    ]
    for row in results["targets"]:
        target = "(no target)" if row["target"] is None else f">= {row['target']}x"
        verdict = "" if row["met"] is None else ("met" if row["met"] else "**missed**")
        lines.append(f"| {row['what']} | {row['ratio']:.2f}x | {target} | {verdict} |")
    lines += ["", "| server | 1 MiB ranges x8 (req/s) | download (MiB/s) | upload (MiB/s) |"]
    lines.append("|---|---|---|---|")
    for name, rate in results["ranges_req_s"].items():
        download = results["download_mib_s"].get(name)
        upload_rate = results["upload_mib_s"].get(name)
        lines.append(
            f"| {name} | {rate:,.0f} | {'' if download is None else f'{download:,.0f}'} | "
            f"{'' if upload_rate is None else f'{upload_rate:,.0f}'} |"
        )
    if results["notes"]:
        lines += ["", *(f"- {note}" for note in results["notes"])]
    return "\n".join(lines) + "\n"


def write_markdown(text: str) -> bool:
    if not MARKDOWN.exists():
        return False
    content = MARKDOWN.read_text()
    if BLOCK_START not in content or BLOCK_END not in content:
        return False
    before, _, rest = content.partition(BLOCK_START)
    _, _, after = rest.partition(BLOCK_END)
    MARKDOWN.write_text(f"{before}{BLOCK_START}\n\n{text}\n{BLOCK_END}{after}")
    return True


if __name__ == "__main__":
    sys.exit(main())
