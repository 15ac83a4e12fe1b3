"""Event delivery latency within one instance and across two (issue 15: p95 <= 500 ms).

Two ``asset-service serve`` processes A and B share their backends — one SQLite data dir, then
one S3 stand-in (moto_server) with one MongoDB wire server (nx-27017) — each with a WebSocket
client on ``/api/events``. Uploads go to A one after the other at irregular intervals (so they
do not line up with the poll); every event's latency is when its message reached the client
minus its ``at`` (set when it was published, to the millisecond: one machine, one clock).
Printed per back end: same instance (A's client) and A -> B (B's client), p50 / p95 / max.

    python -m bench.cross_instance_events            # 40 uploads per back end
    python -m bench.cross_instance_events --quick    # 15

Bounded: a fixed number of uploads, each event waited for at most 10 s, every process stopped
on the way out. Writes bench/results/cross_instance_events.json.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from .procs import free_port
from .servers import OurServer, new_secret, stop_process

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cross_instance_events.json"
EVENT_TIMEOUT = 10.0
TEXT = b"".join(b"line %04d of a plain text file\n" % n for n in range(40))


def _wait(ready: Any, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


@contextmanager
def moto(log: Path) -> Iterator[str]:
    """A moto_server; its ``s3://`` URL."""
    port = free_port()

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            return False

    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait(ready, process, "moto_server")
        yield f"s3://testing:testing@127.0.0.1:{port}?secure=false&region=us-east-1"
    finally:
        stop_process(process)


@contextmanager
def nx(log_dir: Path) -> Iterator[str]:
    """An nx-27017 on an in-memory database; its ``mongodb://`` URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-c",
        "import sys; from nx_27017.nx_27017 import main; sys.exit(main())",
        *("--db", "memory", "--host", "127.0.0.1", "-p", str(port)),
        *("--log-file", str(log_dir / "nx.log"), "--pid-file", str(log_dir / "nx.pid")),
    ]

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    with (log_dir / "nx.out").open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        _wait(ready, process, "nx-27017")
        yield f"mongodb://127.0.0.1:{port}/bench_{uuid.uuid4().hex[:8]}"
    finally:
        stop_process(process)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(latencies: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in latencies]
    return {
        "events": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
    }


async def _listen(ws: WebSocketConnection, arrivals: dict[str, float], done: trio.Event) -> None:
    while True:
        message = json.loads(await ws.get_message())
        latency = time.time() - datetime.fromisoformat(message["at"]).timestamp()
        arrivals[message["id"]] = latency
        if message["event"] == "asset.created":
            done.set()


async def measure(a: OurServer, b: OurServer, uploads: int) -> dict[str, dict[str, float]]:
    token = a.token()
    url_a = a.base_url.replace("http://", "ws://") + f"/api/events?token={token}"
    url_b = b.base_url.replace("http://", "ws://") + f"/api/events?token={token}"
    on_a: dict[str, float] = {}
    on_b: dict[str, float] = {}
    rng = random.Random(15)
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as client,
        open_websocket_url(url_a) as ws_a,
        open_websocket_url(url_b) as ws_b,
    ):
        for n in range(uploads + 1):  # the first is a warm-up, not counted
            done_a, done_b = trio.Event(), trio.Event()
            async with trio.open_nursery() as listeners:
                listeners.start_soon(_listen, ws_a, on_a, done_a)
                listeners.start_soon(_listen, ws_b, on_b, done_b)
                answer = await client.post(
                    "/api/assets/upload",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"file": (f"n{n}.txt", TEXT, "text/plain")},
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"upload answered {answer.status_code}: {answer.text}")
                with trio.fail_after(EVENT_TIMEOUT):
                    await done_a.wait()
                    await done_b.wait()
                listeners.cancel_scope.cancel()
            if n == 0:
                on_a.clear()
                on_b.clear()
            await trio.sleep(rng.uniform(0.05, 0.3))
    missing = set(on_a) ^ set(on_b)
    if missing:
        raise RuntimeError(f"events seen by one instance only: {sorted(missing)}")
    return {"same_instance": summary(list(on_a.values())), "a_to_b": summary(list(on_b.values()))}


def run_backend(name: str, uploads: int, work: Path) -> dict[str, dict[str, float]]:
    secret = new_secret()
    with ExitStack() as stack:
        env = {"ASSET_PREVIEWS": "off"}
        if name == "moto+nx":
            env["ASSET_BLOB_STORE"] = stack.enter_context(moto(work / "moto.log"))
            env["ASSET_CATALOG"] = stack.enter_context(nx(work))
        servers = []
        for label in ("A", "B"):
            server = OurServer(
                work / "data", work / f"{label}.log", secret=secret, label=label, extra_env=env
            )
            servers.append(server.start())
            stack.callback(server.stop)
        return trio.run(measure, servers[0], servers[1], uploads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="15 uploads per back end")
    args = parser.parse_args()
    uploads = 15 if args.quick else max(1, min(args.uploads, 1000))
    results: dict[str, Any] = {"uploads": uploads}
    print(f"{'back end':10} {'path':14} {'events':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name in ("sqlite", "moto+nx"):
        with tempfile.TemporaryDirectory(prefix="bench-events-") as work:
            measured = run_backend(name, uploads, Path(work))
        results[name] = measured
        for path, figures in measured.items():
            print(
                f"{name:10} {path:14} {figures['events']:>6} {figures['p50_ms']:>8} "
                f"{figures['p95_ms']:>8} {figures['max_ms']:>8}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
