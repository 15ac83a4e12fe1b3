"""Mixed load on the real server, on loopback: errors, throughput and the server's RSS over time.

Starts ``python -m asset_service.cli serve`` on a free 127.0.0.1 port with a temporary data dir,
seeds about 20 assets (small text files and WAVs made with ``wave``), then runs N client threads
for T seconds, each on its own keep-alive ``http.client.HTTPConnection`` (reconnecting after an
error), mixing uploads (~10 %), ranged downloads of seeded assets (~50 %), searches (~25 %) and
metadata edits (~15 %). The server's RSS (with its children) is sampled every 0.5 s.

    python -m bench.load                  # 64 clients for 60 s
    python -m bench.load --quick          # 8 clients for 10 s
    python -m bench.load --clients 16 --seconds 20 --max-rss-mib 400

Prints a report and writes it as JSON to bench/results/load.json. Exits 1 if any request
failed (a status other than 2xx, or an exception) or the RSS is unbounded: above
``--max-rss-mib``, or the mean of the last quarter of the samples more than
``--max-growth`` above the mean of the second quarter. The first quarter is the warm-up, left
out of that comparison: the allocator's arenas for the worker threads, SQLite's page cache and
Python's own pools fill in the first seconds (64 → 73 MiB in 15 s here) and then level off; a
leak keeps the slope after it. The first quarter's mean is reported too. Every client loop is
bounded by a request count and a deadline, and every socket operation by a timeout. Linux only
(/proc). ``tests/test_load_quick.py`` runs 16 clients for 8 s inside ``make test``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path

from .procs import (
    MiB,
    free_port,
    process_tree,
    rss_bytes,
    service_env,
    service_token,
    start_service,
    stop_service,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "load.json"
HOST = "127.0.0.1"
KINDS = ("upload", "download", "search", "edit")
WEIGHTS = (10, 50, 25, 15)
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
SEED_ASSETS = 20
MAX_REQUESTS_PER_CLIENT = 200_000
REQUEST_TIMEOUT = 30.0
SAMPLE_INTERVAL = 0.5


# --- content -----------------------------------------------------------------------------


def make_wav(rng: random.Random, seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(rng.randbytes(int(seconds * rate) * 2))
    return buffer.getvalue()


def make_text(rng: random.Random, lines: int = 40) -> bytes:
    return "".join(
        " ".join(rng.choice(WORDS) for _ in range(8)) + "\n" for _ in range(lines)
    ).encode()


def multipart(filename: str, content_type: str, data: bytes, title: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def random_file(rng: random.Random, index: int) -> tuple[str, str, bytes]:
    word = WORDS[index % len(WORDS)]
    if rng.random() < 0.5:
        return f"{word}-{index}.txt", "text/plain", make_text(rng)
    return f"{word}-{index}.wav", "audio/wav", make_wav(rng)


# --- the server --------------------------------------------------------------------------


# --- RSS -----------------------------------------------------------------------------------


@dataclass
class RssSeries:
    """The RSS of ``pid`` and its children every ``interval`` seconds, while in a ``with``."""

    pid: int
    interval: float = SAMPLE_INTERVAL
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSeries:
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-series")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            rss = rss_bytes(process_tree(self.pid))
            if rss:
                self.samples.append((time.perf_counter() - self._start, rss / MiB))
            if self._stop.wait(self.interval):
                return


# --- the clients ---------------------------------------------------------------------------


@dataclass
class Seeded:
    asset_id: str
    size: int


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: list[str] = field(default_factory=list)  # the first few error messages

    def merge(self, other: Tally, lock: threading.Lock) -> None:
        with lock:
            for kind in KINDS:
                self.latencies[kind] += other.latencies[kind]
                self.errors[kind] += other.errors[kind]
            self.samples += other.samples[: max(0, 20 - len(self.samples))]


class Client:
    """One thread's keep-alive connection; reconnects on the next request after an error."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = {"Authorization": f"Bearer {token}"}
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        try:
            self.conn.request(method, path, body=body, headers={**self.auth, **(headers or {})})
            response = self.conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def upload(client: Client, rng: random.Random, index: int) -> tuple[int, bytes, int]:
    """POST one small file; the status, the answer and the file's size."""
    name, content_type, data = random_file(rng, index)
    body, ctype = multipart(name, content_type, data, f"{WORDS[index % len(WORDS)]} {index}")
    status, answer = client.request("POST", "/api/assets/upload", body, {"Content-Type": ctype})
    return status, answer, len(data)


def seed(port: int, token: str, count: int) -> list[Seeded]:
    client = Client(port, token)
    rng = random.Random(7)
    seeded: list[Seeded] = []
    try:
        for index in range(count):
            status, data, size = upload(client, rng, index)
            if status != 201:
                raise RuntimeError(f"seeding upload {index} answered {status}: {data[:300]!r}")
            seeded.append(Seeded(json.loads(data)["asset_id"], size))
    finally:
        client.close()
    return seeded


def client_loop(
    index: int,
    port: int,
    token: str,
    seeded: list[Seeded],
    seconds: float,
    max_requests: int,
    tally: Tally,
    lock: threading.Lock,
    start: threading.Barrier,
) -> None:
    rng = random.Random(1000 + index)
    mine = Tally()
    client = Client(port, token)
    try:
        start.wait(timeout=30)
        deadline = time.perf_counter() + seconds
        for count in range(max_requests):
            if time.perf_counter() >= deadline:
                break
            kind = rng.choices(KINDS, WEIGHTS)[0]
            expected: tuple[int, ...] = (200,)
            began = time.perf_counter()
            try:
                if kind == "upload":
                    expected = (201,)
                    status, data, _ = upload(client, rng, index * 1_000_000 + count)
                elif kind == "download":
                    target = rng.choice(seeded)
                    first = rng.randrange(target.size)
                    last = min(target.size - 1, first + rng.randrange(1, 16 * 1024))
                    expected = (206,)
                    status, data = client.request(
                        "GET",
                        f"/api/assets/{target.asset_id}/download",
                        headers={"Range": f"bytes={first}-{last}"},
                    )
                    if status == 206 and len(data) != last - first + 1:
                        status = -len(data)  # a short body counts as an error
                elif kind == "search":
                    status, data = client.request(
                        "GET", f"/api/assets/search?q={rng.choice(WORDS)}&limit=20"
                    )
                else:
                    target = rng.choice(seeded)
                    body = json.dumps({"title": f"{rng.choice(WORDS)} edit {index}-{count}"})
                    status, data = client.request(
                        "PUT",
                        f"/api/assets/{target.asset_id}",
                        body.encode(),
                        {"Content-Type": "application/json"},
                    )
                mine.latencies[kind].append(time.perf_counter() - began)
                if status not in expected:
                    mine.errors[kind] += 1
                    if len(mine.samples) < 5:
                        mine.samples.append(f"{kind}: {status} {data[:200]!r}")
            except (OSError, http.client.HTTPException) as exc:
                mine.latencies[kind].append(time.perf_counter() - began)
                mine.errors[kind] += 1
                if len(mine.samples) < 5:
                    mine.samples.append(f"{kind}: {type(exc).__name__}: {exc}")
    except threading.BrokenBarrierError:
        mine.samples.append(f"client {index}: the start barrier broke")
        mine.errors["search"] += 1
    finally:
        client.close()
        tally.merge(mine, lock)


# --- the run -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_summary(samples: list[float], max_rss_mib: float, max_growth: float) -> dict[str, object]:
    quarter = max(1, len(samples) // 4)
    first = statistics.fmean(samples[:quarter]) if samples else 0.0
    # the second quarter: the first is warm-up (see the module's docstring)
    second = statistics.fmean(samples[quarter : 2 * quarter] or samples[:quarter] or [0.0])
    last = statistics.fmean(samples[-quarter:]) if samples else 0.0
    growth = (last / second - 1) if second else 0.0
    peak = max(samples, default=0.0)
    return {
        "min_mib": round(min(samples, default=0.0), 1),
        "median_mib": round(statistics.median(samples), 1) if samples else 0.0,
        "max_mib": round(peak, 1),
        "first_quarter_mean_mib": round(first, 1),
        "second_quarter_mean_mib": round(second, 1),
        "last_quarter_mean_mib": round(last, 1),
        "growth": round(growth, 4),
        "limit_mib": max_rss_mib,
        "max_growth": max_growth,
        "bounded": bool(samples) and peak <= max_rss_mib and growth <= max_growth,
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="asset-load-", dir=args.tmp_dir))
    process: subprocess.Popen[bytes] | None = None
    log_path = work / "server.log"
    try:
        port = free_port()
        base = f"http://{HOST}:{port}"
        env = service_env(work / "data", port)
        process = start_service(env, log_path, base)
        token = service_token(env, user="load")
        seeded = seed(port, token, SEED_ASSETS)
        print(
            f"server on {base} (pid {process.pid}); seeded {len(seeded)} assets; "
            f"{args.clients} clients for {args.seconds:.0f} s",
            flush=True,
        )

        tally = Tally()
        lock = threading.Lock()
        barrier = threading.Barrier(args.clients + 1)
        threads: list[threading.Thread] = []
        with RssSeries(process.pid) as rss:
            for index in range(args.clients):
                thread = threading.Thread(
                    target=lambda i=index: client_loop(
                        i,
                        port,
                        token,
                        seeded,
                        args.seconds,
                        MAX_REQUESTS_PER_CLIENT,
                        tally,
                        lock,
                        barrier,
                    ),
                    daemon=True,
                    name=f"load-{index}",
                )
                threads.append(thread)
                thread.start()
            barrier.wait(timeout=30)
            started = time.perf_counter()
            # A client ends at its deadline or, at worst, one request timeout after it.
            join_by = started + args.seconds + 2 * REQUEST_TIMEOUT
            for thread in threads:
                thread.join(timeout=max(0.1, join_by - time.perf_counter()))
            elapsed = time.perf_counter() - started
        stuck = sum(thread.is_alive() for thread in threads)
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} under load")
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

    kinds = {}
    total = 0
    for kind in KINDS:
        lat = tally.latencies[kind]
        total += len(lat)
        kinds[kind] = {
            "requests": len(lat),
            "errors": tally.errors[kind],
            "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
        }
    values = [mib for _, mib in rss.samples]
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "elapsed_s": round(elapsed, 2),
        "seeded_assets": len(seeded),
        "requests": total,
        "errors": sum(tally.errors.values()) + stuck,
        "stuck_clients": stuck,
        "throughput_rps": round(total / elapsed, 1) if elapsed else 0.0,
        "kinds": kinds,
        "error_samples": tally.samples,
        "rss": rss_summary(values, args.max_rss_mib, args.max_growth),
        "rss_series": [[round(t, 1), round(mib, 1)] for t, mib in rss.samples],
    }


def report(result: dict[str, object]) -> str:
    lines = [
        f"\n{result['clients']} clients for {result['elapsed_s']} s: "
        f"{result['requests']} requests, {result['throughput_rps']} req/s, "
        f"{result['errors']} errors",
        f"{'kind':<10}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    for kind, row in result["kinds"].items():  # type: ignore[attr-defined]
        lines.append(
            f"{kind:<10}{row['requests']:>10}{row['errors']:>8}{row['p50_ms']:>10}"
            f"{row['p99_ms']:>10}"
        )
    rss = result["rss"]
    assert isinstance(rss, dict)
    lines.append(
        f"server RSS: min {rss['min_mib']} / median {rss['median_mib']} / max {rss['max_mib']} MiB "
        f"(limit {rss['limit_mib']:.0f}); quarter means {rss['first_quarter_mean_mib']} (warm-up), "
        f"{rss['second_quarter_mean_mib']} … {rss['last_quarter_mean_mib']} MiB "
        f"(growth after warm-up {rss['growth'] * 100:+.1f} %, "
        f"limit +{rss['max_growth'] * 100:.0f} %)"
    )
    series = result["rss_series"]
    assert isinstance(series, list)
    step = max(1, -(-len(series) // 12))
    lines.append(
        "RSS over time: " + ", ".join(f"{t:.1f}s {mib:.0f}" for t, mib in series[::step]) + " (MiB)"
    )
    for sample in result["error_samples"]:  # type: ignore[attr-defined]
        lines.append(f"  error: {sample}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration (60)")
    parser.add_argument("--quick", action="store_true", help="8 clients for 10 s")
    parser.add_argument(
        "--max-rss-mib", type=float, default=300.0, help="fail above this server RSS (300)"
    )
    parser.add_argument(
        "--max-growth",
        type=float,
        default=0.10,
        help="fail if the last quarter's mean RSS exceeds the second's by more (0.10)",
    )
    parser.add_argument("--tmp-dir", default=None, help="where the data dir goes")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.seconds = 8, 10.0
    if not 1 <= args.clients <= 1024 or not 0 < args.seconds <= 3600:
        parser.error("--clients must be 1 to 1024 and --seconds 0 to 3600")

    result = run(args)
    rss = result["rss"]
    assert isinstance(rss, dict)
    ok = result["errors"] == 0 and bool(rss["bounded"])
    result.update(
        ok=ok,
        when=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        python=platform.python_version(),
        cpus=os.cpu_count(),
    )
    print(report(result))
    print("OK" if ok else "FAILED")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
