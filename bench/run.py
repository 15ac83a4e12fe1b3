"""The benchmark suite: the service next to nginx and a FastAPI reference, in one invocation.

    python -m bench                # full: 1 GiB files, 100 000 assets, 5 runs per figure
    python -m bench --quick        # under two minutes: 256 MiB, 20 000 assets, 3 runs
    python -m bench --only download,ranges --runs 7

Starts on 127.0.0.1, each on a free port, and always stops (``finally``): the service
(``asset-service serve``, filesystem store, SQLite catalog), nginx with sendfile (Debian's,
installed with apt-get when missing and root; its own config and pid file in the temp dir), the
FastAPI + uvicorn reference (``bench/reference_app.py``), and the service behind a front nginx
with ``ASSET_ACCEL_REDIRECT_PREFIX`` (the X-Accel-Redirect option). Measures, interleaving the
servers run by run so that the noise of a shared machine falls on all of them alike:

- download of the whole file: MiB/s, the server's CPU seconds (utime + stime of the process
  and its children, from /proc) and its peak RSS (sampled every 20 ms);
- upload of the same file as multipart/form-data (the service vs FastAPI's ``UploadFile``),
  and the service's peak RSS during a 2 GiB upload;
- 1 MiB ranges at random offsets, 1 and 8 connections: requests/s (each load bounded in
  count and time);
- GET of asset metadata at 32 concurrent clients: p50/p99;
- search with the catalog seeded through the catalog port's adapter (fast bulk insert):
  p50/p95 per kind of search, on SQLite and (if its adapter exists) MongoDB on mongomock;
  the same searches over HTTP on SQLite;
- extraction cost per built-in type (ms per file).

Each figure is the median of ``--runs`` runs. Prints the table with the ratios ours/reference
against the targets of issue 6, writes ``bench/results/bench.json`` (and a copy named by date),
and — on a full run — rewrites the results block of BENCHMARKS.md. Exits 1 if a check of the
bytes served failed (never because a target was missed: that is what the report is for).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Connection, HttpError, run_load
from .procs import MiB, Sampler, status_kib
from .servers import (
    ROOT,
    AccelFront,
    FastAPIReference,
    Nginx,
    OurServer,
    Server,
    ensure_nginx,
    new_secret,
    static_server_block,
)

RESULTS_DIR = ROOT / "bench" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"
BLOCK_START = "<!-- bench:results:start (written by `make bench`; edit outside this block) -->"
BLOCK_END = "<!-- bench:results:end -->"
BOUNDARY = "benchboundary6a1f"
FILE_NAME = "asset.wav"

OURS, NGINX, FASTAPI, ACCEL = "ours", "nginx", "fastapi", "ours via nginx (X-Accel)"


@dataclass
class Plan:
    quick: bool
    runs: int
    size: int
    rss_size: int
    assets: int
    mongomock_assets: int
    range_seconds: float
    range_requests: int
    metadata_seconds: float
    search_repeats: int
    only: set[str]

    @classmethod
    def make(cls, args: argparse.Namespace) -> Plan:
        quick = args.quick
        plan = cls(
            quick=quick,
            runs=args.runs or (3 if quick else 5),
            size=int((args.size_mib or (256 if quick else 1024)) * MiB),
            rss_size=int((args.rss_size_mib or (512 if quick else 2048)) * MiB),
            assets=args.assets or (20_000 if quick else 100_000),
            mongomock_assets=args.mongomock_assets or (2_000 if quick else 5_000),
            range_seconds=0.75 if quick else 3.0,
            range_requests=20_000,
            metadata_seconds=1.5 if quick else 4.0,
            search_repeats=10 if quick else 20,
            only=set(args.only.split(",")) if args.only else set(PHASES),
        )
        unknown = plan.only - set(PHASES)
        if unknown:
            raise SystemExit(f"--only: unknown phases {sorted(unknown)} (known: {PHASES})")
        return plan


#: in this order; the 2 GiB RSS upload first, on a server that has not yet served the loads
#: of the other phases (their allocations raise its idle RSS by ~10 MiB)
PHASES = ["rss", "download", "upload", "ranges", "metadata", "search", "extraction"]


@dataclass
class Context:
    plan: Plan
    work: Path
    files: Path
    source: Path
    sha256: str
    results: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    servers: dict[str, Server] = field(default_factory=dict)
    asset_id: str = ""
    user_token: str = ""
    admin_token: str = ""
    metadata_ids: list[str] = field(default_factory=list)

    def log(self, text: str) -> None:
        print(text, flush=True)

    def fail(self, text: str) -> None:
        self.failures.append(text)
        print(f"FAILED: {text}", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def r(value: float, digits: int = 1) -> float:
    return round(value, digits)


# --- machine ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = status = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with contextlib.suppress(OSError):
        status = Path("/proc/loadavg").read_text().split()[0]
    versions: dict[str, str] = {}
    for name in ("trio", "hypercorn", "quart", "quart-trio", "fastapi", "uvicorn", "starlette"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=10)
        versions["nginx"] = done.stderr.strip().rsplit("/", 1)[-1]
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": status,
        "versions": versions,
    }


# --- setup -------------------------------------------------------------------------------------


def write_random_wav(path: Path, size: int) -> str:
    """A ``size``-byte WAV of random samples (the audio type accepts it); its sha256."""
    sys.path.insert(0, str(ROOT / "bench"))
    from upload_memory import write_random_wav as write

    return write(path, size)


def multipart_parts() -> tuple[bytes, bytes]:
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="bench.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(
    server: Server, path: str, headers: dict[str, str], source: Path, timeout: float
) -> dict[str, Any]:
    head, tail = multipart_parts()
    all_headers = {**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    with Connection(server.base_url, timeout=timeout) as connection:
        response = connection.upload_file(path, all_headers, head, source, tail)
    if response.status != 201:
        raise HttpError(f"upload to {server.label} answered {response.status}: {response.body!r}")
    return json.loads(response.body or b"{}")


def seed_our_catalog(ctx: Context, data_dir: Path) -> None:
    """100 000 assets (``--assets``) in the service's own catalog file, before it starts."""
    import trio

    from asset_service.engine.adapters.sqlite import SqliteCatalog

    from . import catalog as bench_catalog

    async def seed() -> dict[str, Any]:
        corpus = bench_catalog.make_assets(ctx.plan.assets)
        store = SqliteCatalog(data_dir / "catalog.db")
        await store.open()
        try:
            seconds = await bench_catalog.seed_sqlite(store, corpus.assets)
            await bench_catalog.verify(store, corpus)
        finally:
            await store.close()
        visible = [
            a.asset_id
            for a in corpus.assets
            if a.visibility.value != "private" or a.user_id == bench_catalog.VIEWER
        ]
        ctx.metadata_ids = random.Random(7).sample(visible, min(1000, len(visible)))
        return {"assets": len(corpus.assets), "seed_s": r(seconds, 2)}

    started = time.perf_counter()
    ctx.results["catalog"] = trio.run(seed)
    ctx.log(
        f"seeded {ctx.plan.assets} assets into the service's SQLite catalog "
        f"in {time.perf_counter() - started:.1f} s"
    )


def start_servers(ctx: Context, stack: contextlib.ExitStack) -> None:
    data = ctx.work / "data"
    secret = new_secret()
    ours = OurServer(data, ctx.work / "ours.log", secret=secret)
    stack.callback(ours.stop)
    ctx.servers[OURS] = ours.start()
    ctx.user_token = ours.token(user="u1", customer="bench", role="editor")
    ctx.admin_token = ours.token(user="admin", customer="bench", role="admin")
    nginx_binary = ensure_nginx(ctx.notes)
    if nginx_binary:
        nginx = Nginx(nginx_binary, ctx.work / "nginx", server_block=static_server_block(ctx.files))
        stack.callback(nginx.stop)
        ctx.servers[NGINX] = nginx.start()
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        ctx.notes.append("fastapi/uvicorn not installed (pip install '.[bench]'): skipped")
    else:
        reference = FastAPIReference(ctx.files, ctx.work / "fastapi-store", ctx.work / "fa.log")
        stack.callback(reference.stop)
        ctx.servers[FASTAPI] = reference.start()
    if nginx_binary:
        accel = AccelFront(
            nginx_binary,
            OurServer(data, ctx.work / "ours-accel.log", secret=secret, label="ours-accel"),
            ctx.work / "front",
            label="front nginx",
        )
        stack.callback(accel.stop)
        ctx.servers[ACCEL] = accel.start()
        ctx.servers["ours-accel (app)"] = accel.app
    ctx.log("servers: " + ", ".join(f"{k} {s.base_url}" for k, s in ctx.servers.items()))


def download_target(ctx: Context, name: str) -> tuple[str, dict[str, str]]:
    if name in (NGINX, FASTAPI):
        return f"/files/{FILE_NAME}", {}
    return f"/api/assets/{ctx.asset_id}/download", {"Authorization": f"Bearer {ctx.user_token}"}


def measured(ctx: Context) -> list[str]:
    return [name for name in (OURS, NGINX, FASTAPI, ACCEL) if name in ctx.servers]


def sampled_pid(ctx: Context, name: str) -> list[int]:
    """The processes whose CPU and memory a measurement of ``name`` counts: for the X-Accel
    setup, the front nginx and the service behind it."""
    if name == ACCEL:
        return [ctx.servers[ACCEL].pid, ctx.servers["ours-accel (app)"].pid]
    return [ctx.servers[name].pid]


class MultiSampler:
    def __init__(self, pids: list[int]) -> None:
        self.samplers = [Sampler(pid) for pid in pids]

    def __enter__(self) -> MultiSampler:
        for sampler in self.samplers:
            sampler.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for sampler in self.samplers:
            sampler.__exit__(*exc)

    @property
    def cpu_s(self) -> float:
        return sum(s.usage.cpu_s for s in self.samplers if s.usage)

    @property
    def peak_rss_mib(self) -> float:
        return sum(s.usage.peak_rss_mib for s in self.samplers if s.usage)


def verify_downloads(ctx: Context) -> None:
    """One untimed download from each server, hashed: the bytes are the file's (this also
    brings the file into the page cache for all of them alike)."""
    for name in measured(ctx):
        path, headers = download_target(ctx, name)
        digest = hashlib.sha256()
        with Connection(ctx.servers[name].base_url, timeout=600) as connection:
            response = connection.request("GET", path, headers, digest=digest)
        if response.status != 200 or response.length != ctx.plan.size:
            ctx.fail(f"download from {name}: {response.status}, {response.length} bytes")
        elif digest.hexdigest() != ctx.sha256:
            ctx.fail(f"download from {name}: the bytes differ from the file's")


# --- phases ------------------------------------------------------------------------------------


def phase_download(ctx: Context) -> None:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in measured(ctx)}
    for run in range(ctx.plan.runs):
        for name in measured(ctx):
            path, headers = download_target(ctx, name)
            with (
                Connection(ctx.servers[name].base_url, timeout=600) as connection,
                MultiSampler(sampled_pid(ctx, name)) as sampler,
            ):
                started = time.perf_counter()
                response = connection.request("GET", path, headers)
                seconds = time.perf_counter() - started
            if response.status != 200 or response.length != ctx.plan.size:
                ctx.fail(f"download {name}: {response.status}, {response.length} bytes")
                continue
            runs[name].append(
                {
                    "mib_s": ctx.plan.size / MiB / seconds,
                    "cpu_s": sampler.cpu_s,
                    "peak_rss_mib": sampler.peak_rss_mib,
                }
            )
        ctx.log(f"download run {run + 1}: " + summary(runs, "mib_s", "MiB/s"))
    ctx.results["download"] = {"size_mib": ctx.plan.size // MiB, "servers": figures(runs)}


def figures(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, rows in runs.items():
        if not rows:
            continue
        keys = rows[0].keys()
        out[name] = {key: r(median([row[key] for row in rows]), 2) for key in keys}
        out[name]["runs"] = [{k: r(v, 2) for k, v in row.items()} for row in rows]
    return out


def summary(runs: dict[str, list[dict[str, float]]], key: str, unit: str) -> str:
    return ", ".join(f"{name} {rows[-1][key]:.0f}" for name, rows in runs.items() if rows) + (
        f" {unit}"
    )


def phase_ranges(ctx: Context) -> None:
    size, length = ctx.plan.size, MiB
    out: dict[str, Any] = {}
    for connections in (1, 8):
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in measured(ctx)}
        for _ in range(ctx.plan.runs):
            for name in measured(ctx):
                path, headers = download_target(ctx, name)

                def make(rng: random.Random, path=path, headers=headers) -> tuple[str, dict]:
                    start = rng.randrange(0, size - length + 1)
                    return path, {**headers, "Range": f"bytes={start}-{start + length - 1}"}

                with MultiSampler(sampled_pid(ctx, name)) as sampler:
                    result = run_load(
                        ctx.servers[name].base_url,
                        make,
                        connections=connections,
                        max_requests=ctx.plan.range_requests,
                        max_seconds=ctx.plan.range_seconds,
                        expect=(206,),
                        expect_length=length,
                    )
                if result.errors:
                    ctx.fail(f"ranges {name} x{connections}: {result.errors[:2]}")
                    continue
                runs[name].append(
                    {
                        "req_s": result.per_second,
                        "cpu_s_per_1000": sampler.cpu_s / max(result.requests, 1) * 1000,
                        "peak_rss_mib": sampler.peak_rss_mib,
                    }
                )
        ctx.log(f"ranges x{connections}: " + summary_median(runs, "req_s", "req/s"))
        out[str(connections)] = figures(runs)
    ctx.results["ranges"] = {"range_bytes": length, "connections": out}


def summary_median(runs: dict[str, list[dict[str, float]]], key: str, unit: str) -> str:
    return ", ".join(
        f"{name} {median([row[key] for row in rows]):.0f}" for name, rows in runs.items() if rows
    ) + (f" {unit}")


def phase_metadata(ctx: Context) -> None:
    ours = ctx.servers[OURS]
    headers = {"Authorization": f"Bearer {ctx.user_token}"}
    ids = ctx.metadata_ids or [ctx.asset_id]
    runs: list[dict[str, float]] = []
    for _ in range(ctx.plan.runs):
        with Sampler(ours.pid) as sampler:
            result = run_load(
                ours.base_url,
                lambda rng: (f"/api/assets/{rng.choice(ids)}", headers),
                connections=32,
                max_requests=100_000,
                max_seconds=ctx.plan.metadata_seconds,
                record_latency=True,
            )
        if result.errors:
            ctx.fail(f"metadata: {result.errors[:2]}")
            continue
        latencies = [t * 1000 for t in result.latencies]
        runs.append(
            {
                "p50_ms": percentile(latencies, 0.50),
                "p99_ms": percentile(latencies, 0.99),
                "req_s": result.per_second,
                "cpu_s": sampler.usage.cpu_s if sampler.usage else 0.0,
            }
        )
    fig = figures({OURS: runs}).get(OURS, {})
    ctx.results["metadata"] = {"clients": 32, "catalog_assets": ctx.plan.assets, **fig}
    ctx.log(
        f"metadata x32: p50 {fig.get('p50_ms')} ms, p99 {fig.get('p99_ms')} ms, "
        f"{fig.get('req_s')} req/s"
    )


def percentile(values: list[float], fraction: float) -> float:
    from .catalog import percentile as nearest_rank

    return nearest_rank(values, fraction)


def phase_upload(ctx: Context) -> None:
    names = [name for name in (OURS, FASTAPI) if name in ctx.servers]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    timeout = max(300.0, ctx.plan.size / MiB / 10)
    for _ in range(ctx.plan.runs):
        for name in names:
            server = ctx.servers[name]
            with MultiSampler([server.pid]) as sampler:
                started = time.perf_counter()
                if name == OURS:
                    auth = {"Authorization": f"Bearer {ctx.admin_token}"}
                    body = upload(server, "/api/assets/upload", auth, ctx.source, timeout)
                else:
                    body = upload(server, "/upload", {}, ctx.source, timeout)
                seconds = time.perf_counter() - started
            if body.get("checksum") != ctx.sha256 or body.get("size") != ctx.plan.size:
                ctx.fail(f"upload to {name}: checksum or size differ: {body}")
            remove_upload(ctx, name, body)
            runs[name].append(
                {
                    "mib_s": ctx.plan.size / MiB / seconds,
                    "cpu_s": sampler.cpu_s,
                    "peak_rss_mib": sampler.peak_rss_mib,
                }
            )
        ctx.log("upload: " + summary(runs, "mib_s", "MiB/s"))
    ctx.results["upload"] = {"size_mib": ctx.plan.size // MiB, "servers": figures(runs)}


def remove_upload(ctx: Context, name: str, body: dict[str, Any]) -> None:
    server = ctx.servers[name]
    with Connection(server.base_url, timeout=60) as connection:
        if name == OURS:
            response = connection.request(
                "DELETE",
                f"/api/assets/{body['asset_id']}?permanent=true",
                {"Authorization": f"Bearer {ctx.admin_token}"},
            )
        else:
            response = connection.request("DELETE", f"/upload/{body['id']}")
    if response.status != 204:
        ctx.fail(f"removing the upload from {name}: {response.status}")


def phase_rss(ctx: Context) -> None:
    """The service's peak RSS while it receives a 2 GiB upload."""
    big = ctx.files / "big.wav"
    started = time.perf_counter()
    checksum = write_random_wav(big, ctx.plan.rss_size)
    ctx.log(f"wrote {ctx.plan.rss_size // MiB} MiB in {time.perf_counter() - started:.1f} s")
    ours = ctx.servers[OURS]
    baseline = (status_kib(ours.pid, "VmRSS") or 0) / 1024
    runs: list[dict[str, float]] = []
    try:
        for _ in range(ctx.plan.runs):
            with Sampler(ours.pid) as sampler:
                started = time.perf_counter()
                auth = {"Authorization": f"Bearer {ctx.admin_token}"}
                body = upload(ours, "/api/assets/upload", auth, big, 900)
                seconds = time.perf_counter() - started
            if body.get("checksum") != checksum:
                ctx.fail(f"{ctx.plan.rss_size // MiB} MiB upload: checksum differs")
            remove_upload(ctx, OURS, body)
            assert sampler.usage is not None
            runs.append(
                {
                    "peak_rss_mib": sampler.usage.peak_rss_mib,
                    "mib_s": ctx.plan.rss_size / MiB / seconds,
                    "cpu_s": sampler.usage.cpu_s,
                }
            )
            ctx.log(
                f"upload {ctx.plan.rss_size // MiB} MiB: "
                f"peak RSS {runs[-1]['peak_rss_mib']:.1f} MiB"
            )
    finally:
        big.unlink(missing_ok=True)
    ctx.results["upload_rss"] = {
        "size_mib": ctx.plan.rss_size // MiB,
        "baseline_rss_mib": r(baseline),
        "vmhwm_mib": r((status_kib(ours.pid, "VmHWM") or 0) / 1024),
        **figures({OURS: runs}).get(OURS, {}),
    }


def phase_search(ctx: Context) -> None:
    import trio

    from asset_service.engine.adapters.sqlite import SqliteCatalog

    from . import catalog as bench_catalog

    corpus = bench_catalog.make_assets(ctx.plan.assets)
    kinds = bench_catalog.searches(corpus)
    out: dict[str, Any] = {}

    async def port_level(catalog: Any, label: str, repeats: int) -> dict[str, Any]:
        per_run: list[dict[str, list[float]]] = []
        for _ in range(ctx.plan.runs):
            times: dict[str, list[float]] = {k.name: [] for k in kinds}
            for _ in range(repeats):
                for kind in kinds:
                    seconds, _count = await bench_catalog.run_search(catalog, kind)
                    times[kind.name].append(seconds * 1000)
            per_run.append(times)
        return latency_figures(per_run, label)

    async def sqlite_search() -> dict[str, Any]:
        catalog = SqliteCatalog(ctx.work / "data" / "catalog.db")
        await catalog.open()
        try:
            return await port_level(catalog, "sqlite", ctx.plan.search_repeats)
        finally:
            await catalog.close()

    out["sqlite"] = {"assets": ctx.plan.assets, **trio.run(sqlite_search)}
    ctx.log(
        f"search sqlite (port): p50 {out['sqlite']['p50_ms']} ms, p95 {out['sqlite']['p95_ms']} ms"
    )
    if OURS in ctx.servers:
        out["sqlite over HTTP"] = {"assets": ctx.plan.assets, **http_search(ctx, kinds)}
        ctx.log(
            f"search sqlite (HTTP): p50 {out['sqlite over HTTP']['p50_ms']} ms, "
            f"p95 {out['sqlite over HTTP']['p95_ms']} ms"
        )
    out["mongomock"] = mongomock_search(ctx, port_level)
    ctx.results["search"] = out


def latency_figures(per_run: list[dict[str, list[float]]], label: str) -> dict[str, Any]:
    """p50/p95 per kind and over the whole mix, each the median over the runs."""
    names = list(per_run[0])
    kinds = {
        name: {
            "p50_ms": r(median([percentile(run[name], 0.5) for run in per_run]), 2),
            "p95_ms": r(median([percentile(run[name], 0.95) for run in per_run]), 2),
        }
        for name in names
    }
    merged = [[t for times in run.values() for t in times] for run in per_run]
    overall_p50 = median([percentile(times, 0.5) for times in merged])
    overall_p95 = median([percentile(times, 0.95) for times in merged])
    return {
        "p50_ms": r(overall_p50, 2),
        "p95_ms": r(overall_p95, 2),
        "worst_kind_p95_ms": max(k["p95_ms"] for k in kinds.values()),
        "kinds": kinds,
    }


def http_search(ctx: Context, kinds: list[Any]) -> dict[str, Any]:
    ours = ctx.servers[OURS]
    headers = {"Authorization": f"Bearer {ctx.user_token}"}
    per_run: list[dict[str, list[float]]] = []
    with Connection(ours.base_url, timeout=60) as connection:
        for _ in range(ctx.plan.runs):
            times: dict[str, list[float]] = {k.name: [] for k in kinds}
            for _ in range(ctx.plan.search_repeats):
                for kind in kinds:
                    target = f"/api/assets/search?{kind.http}"
                    if kind.second_page:
                        first = connection.request("GET", target, headers, keep_body=True)
                        cursor = json.loads(first.body or b"{}").get("next_cursor")
                        target += f"&cursor={cursor}" if kind.http else f"cursor={cursor}"
                    started = time.perf_counter()
                    response = connection.request("GET", target, headers)
                    times[kind.name].append((time.perf_counter() - started) * 1000)
                    if response.status != 200:
                        ctx.fail(f"search over HTTP {kind.name}: {response.status}")
                        return {}
            per_run.append(times)
    return latency_figures(per_run, "http")


def mongomock_search(ctx: Context, port_level: Callable[..., Any]) -> dict[str, Any]:
    adapter = ROOT / "asset_service" / "engine" / "adapters" / "mongo.py"
    if not adapter.exists():
        return {"skipped": "no MongoDB adapter in asset_service/engine/adapters/"}
    try:
        import mongomock
        import trio

        from asset_service.engine.adapters.mongo import MongoCatalog
    except ImportError as error:
        return {"skipped": f"cannot import the MongoDB adapter or mongomock: {error}"}
    from . import catalog as bench_catalog

    count = ctx.plan.mongomock_assets
    corpus = bench_catalog.make_assets(count)

    async def run() -> dict[str, Any]:
        client = mongomock.MongoClient()
        catalog = MongoCatalog(
            "mongodb://mongomock/bench",
            client_factory=lambda: client,
            limiter=trio.CapacityLimiter(1),
        )
        await catalog.open()
        try:
            seconds = await bench_catalog.seed_mongo(catalog, corpus.assets)
            await bench_catalog.verify(catalog, corpus)
            figs = await port_level(catalog, "mongomock", max(2, ctx.plan.search_repeats // 5))
            return {"assets": count, "seed_s": r(seconds, 2), **figs}
        finally:
            await catalog.close()

    try:
        result = trio.run(run)
    except Exception as error:  # another engineer's adapter, in progress: report, go on
        return {"skipped": f"the MongoDB adapter failed on mongomock: {error!r}"}
    result["note"] = (
        f"{count} assets, not 100 000: mongomock is a pure-Python in-memory stand-in that scans "
        "every document (no indexes); its times say nothing about a real MongoDB"
    )
    ctx.log(
        f"search mongomock ({count} assets): p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms"
    )
    return result


def phase_extraction(ctx: Context) -> None:
    from . import extraction

    extraction.ensure_tests_importable()
    directory = ctx.work / "media"
    directory.mkdir()
    ctx.results["extraction"] = extraction.measure(directory, max(ctx.plan.runs, 5))
    for line in ctx.results["extraction"]["notes"]:
        ctx.notes.append(line)
    ctx.log(
        "extraction: "
        + ", ".join(f"{k} {v['ms']} ms" for k, v in ctx.results["extraction"]["formats"].items())
    )


# --- the report --------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    value: float | None
    #: ``None``: a figure shown for information, with no target
    target: float | None
    at_least: bool = True
    unit: str = "x"

    @property
    def ok(self) -> bool | None:
        if self.value is None or self.value != self.value or self.target is None:
            return None
        return self.value >= self.target if self.at_least else self.value <= self.target

    def row(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.2f}{self.unit}"
        if self.target is None:
            return f"| {self.name} | {value} | (no target) | |"
        sign = "≥" if self.at_least else "≤"
        verdict = {True: "met", False: "**missed**", None: "not measured"}[self.ok]
        return f"| {self.name} | {value} | {sign} {self.target:g}{self.unit} | {verdict} |"


def ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return a / b


def get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def targets(results: dict[str, Any]) -> list[Target]:
    dl = lambda name: get(results, "download", "servers", name, "mib_s")  # noqa: E731
    up = lambda name: get(results, "upload", "servers", name, "mib_s")  # noqa: E731
    rg = lambda c, name: get(results, "ranges", "connections", c, name, "req_s")  # noqa: E731
    rss = get(results, "upload_rss", "peak_rss_mib")
    rss_size = get(results, "plan", "rss_size_mib") or 0
    return [
        Target("download: ours / nginx", ratio(dl(OURS), dl(NGINX)), 0.9),
        Target("download: ours / FastAPI", ratio(dl(OURS), dl(FASTAPI)), 2.5),
        Target("upload: ours / FastAPI UploadFile", ratio(up(OURS), up(FASTAPI)), 1.5),
        Target(
            f"upload peak RSS at {rss_size / 1024:g} GiB", rss, 100, at_least=False, unit=" MiB"
        ),
        Target("ranges x1: ours / nginx", ratio(rg("1", OURS), rg("1", NGINX)), 0.4),
        Target("ranges x8: ours / nginx", ratio(rg("8", OURS), rg("8", NGINX)), 0.4),
        Target("ranges x1: ours / FastAPI", ratio(rg("1", OURS), rg("1", FASTAPI)), 1.5),
        Target("ranges x8: ours / FastAPI", ratio(rg("8", OURS), rg("8", FASTAPI)), 1.5),
        Target(
            "search p95, SQLite, whole mix",
            get(results, "search", "sqlite", "p95_ms"),
            20,
            at_least=False,
            unit=" ms",
        ),
        Target(
            "X-Accel option, download: ours via nginx / nginx", ratio(dl(ACCEL), dl(NGINX)), None
        ),
        Target(
            "X-Accel option, ranges x8: ours via nginx / nginx",
            ratio(rg("8", ACCEL), rg("8", NGINX)),
            None,
        ),
        Target(
            "search p95, SQLite, worst kind",
            get(results, "search", "sqlite", "worst_kind_p95_ms"),
            None,
            unit=" ms",
        ),
    ]


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def report_markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    plan = results["plan"]
    lines += [
        f"Run of {results['when']}: {'QUICK — ' if plan['quick'] else ''}"
        f"each figure the median of {plan['runs']} runs; files of {plan['size_mib']} MiB, "
        f"the RSS upload {plan['rss_size_mib']} MiB, {plan['assets']:,} assets in the catalog.",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, Linux {m['kernel']}, "
        f"Python {m['python']}, load average {m['load_average_at_start']} at the start "
        "(a shared machine: compare ratios, not absolute figures). Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        "",
        "### Targets",
        "",
        "| ratio or figure (same run) | measured | target | |",
        "|---|---|---|---|",
    ]
    lines += [t.row() for t in targets(results)]
    dl = get(results, "download", "servers") or {}
    if dl:
        lines += [
            "",
            f"### Download of {results['download']['size_mib']} MiB",
            "",
            "| server | MiB/s | server CPU s | server peak RSS MiB | ratio ours / this |",
            "|---|---|---|---|---|",
        ]
        for name, row in dl.items():
            lines.append(
                f"| {name} | {fmt(row['mib_s'])} | {fmt(row['cpu_s'], 2)} | "
                f"{fmt(row['peak_rss_mib'], 1)} | "
                f"{fmt(ratio(dl[OURS]['mib_s'], row['mib_s']), 2)} |"
            )
    up = get(results, "upload", "servers") or {}
    if up:
        lines += [
            "",
            f"### Upload of {results['upload']['size_mib']} MiB (multipart/form-data)",
            "",
            "| server | MiB/s | server CPU s | server peak RSS MiB |",
            "|---|---|---|---|",
        ]
        for name, row in up.items():
            lines.append(
                f"| {name} | {fmt(row['mib_s'])} | {fmt(row['cpu_s'], 2)} | "
                f"{fmt(row['peak_rss_mib'], 1)} |"
            )
    rss = results.get("upload_rss")
    if rss:
        lines += [
            "",
            f"Upload of {rss['size_mib']} MiB to the service: peak RSS "
            f"{fmt(rss.get('peak_rss_mib'), 1)} MiB (idle before: {rss['baseline_rss_mib']} MiB, "
            f"VmHWM of the process at the end: {rss['vmhwm_mib']} MiB), "
            f"{fmt(rss.get('mib_s'))} MiB/s.",
        ]
    rg = get(results, "ranges", "connections") or {}
    if rg:
        lines += [
            "",
            "### 1 MiB ranges at random offsets (requests/s)",
            "",
            "| server | 1 connection | 8 connections | server CPU s per 1000 (x8) |",
            "|---|---|---|---|",
        ]
        for name in rg.get("1", {}):
            one, eight = rg["1"].get(name, {}), rg.get("8", {}).get(name, {})
            lines.append(
                f"| {name} | {fmt(one.get('req_s'))} | {fmt(eight.get('req_s'))} | "
                f"{fmt(eight.get('cpu_s_per_1000'), 2)} |"
            )
    md = results.get("metadata")
    if md:
        lines += [
            "",
            f"### GET /api/assets/{{id}} at {md['clients']} concurrent clients "
            f"({md['catalog_assets']:,} assets in the catalog)",
            "",
            f"p50 {fmt(md.get('p50_ms'), 2)} ms, p99 {fmt(md.get('p99_ms'), 2)} ms, "
            f"{fmt(md.get('req_s'))} requests/s.",
        ]
    search = results.get("search")
    if search:
        lines += ["", "### Search (p50 / p95 ms per kind; page of 50)", ""]
        columns = [name for name, value in search.items() if "kinds" in value]
        lines.append("| search | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---|" * len(columns))
        kinds = list(search[columns[0]]["kinds"]) if columns else []
        for kind in kinds:
            cells = [
                f"{fmt(search[c]['kinds'][kind]['p50_ms'], 2)} / "
                f"{fmt(search[c]['kinds'][kind]['p95_ms'], 2)}"
                for c in columns
            ]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        cells = [
            f"**{fmt(search[c]['p50_ms'], 2)} / {fmt(search[c]['p95_ms'], 2)}**" for c in columns
        ]
        lines.append("| whole mix | " + " | ".join(cells) + " |")
        lines.append("")
        for name, value in search.items():
            extra = value.get("skipped") or value.get("note")
            assets = value.get("assets")
            lines.append(
                f"- {name}: {fmt(assets) + ' assets' if assets else ''}"
                f"{'; seeded in ' + str(value['seed_s']) + ' s' if 'seed_s' in value else ''}"
                f"{'; ' + extra if extra else ''}"
            )
    ex = get(results, "extraction", "formats")
    if ex:
        lines += [
            "",
            "### Extraction (sniff + validate + describe, ms per file)",
            "",
            "| format | type | file size | ms |",
            "|---|---|---|---|",
        ]
        for name, row in ex.items():
            lines.append(
                f"| {name} | {row['type']} | {fmt(row['bytes'] / 1024, 1)} KiB | {row['ms']} |"
            )
    if results.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {note}" for note in results["notes"]]
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


# --- main ----------------------------------------------------------------------------------------


def run(plan: Plan, tmp_dir: str | None) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "plan": {
            "quick": plan.quick,
            "runs": plan.runs,
            "size_mib": plan.size // MiB,
            "rss_size_mib": plan.rss_size // MiB,
            "assets": plan.assets,
            "phases": sorted(plan.only, key=PHASES.index),
        },
    }
    work = Path(tempfile.mkdtemp(prefix="asset-bench-", dir=tmp_dir))
    files = work / "files"
    files.mkdir()
    source = files / FILE_NAME
    started = time.perf_counter()
    ctx = Context(plan, work, files, source, "", results)
    try:
        with contextlib.ExitStack() as stack:
            needs_file = plan.only & {"download", "ranges", "upload"}
            if needs_file:
                ctx.sha256 = write_random_wav(source, plan.size)
                ctx.log(f"wrote {plan.size // MiB} MiB in {time.perf_counter() - started:.1f} s")
            if plan.only & {"metadata", "search"}:
                seed_our_catalog(ctx, work / "data")
            if plan.only - {"extraction"}:
                start_servers(ctx, stack)
            if needs_file:
                auth = {"Authorization": f"Bearer {ctx.user_token}"}
                body = upload(ctx.servers[OURS], "/api/assets/upload", auth, source, 600)
                ctx.asset_id = body["asset_id"]
                if body.get("checksum") != ctx.sha256:
                    ctx.fail("the setup upload's checksum differs from the file's")
                verify_downloads(ctx)
            for phase in PHASES:
                if phase not in plan.only or phase == "extraction":
                    continue
                if phase in ("download", "ranges", "upload") and not ctx.asset_id:
                    continue
                phase_started = time.perf_counter()
                globals()[f"phase_{phase}"](ctx)
                ctx.log(f"  ({phase}: {time.perf_counter() - phase_started:.0f} s)")
        # the servers are stopped: extraction runs on a quieter machine
        if "extraction" in plan.only:
            phase_extraction(ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["notes"] = ctx.notes
    results["failures"] = ctx.failures
    results["seconds"] = r(time.perf_counter() - started)
    results["targets"] = [
        {"name": t.name, "value": t.value, "target": t.target, "ok": t.ok} for t in targets(results)
    ]
    return results, ctx.failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller and fewer: under 2 min")
    parser.add_argument("--runs", type=int, help="runs per figure (default 5, quick 3)")
    parser.add_argument("--only", help=f"comma-separated phases of {','.join(PHASES)}")
    parser.add_argument("--size-mib", type=float, help="download/upload file (default 1024)")
    parser.add_argument("--rss-size-mib", type=float, help="RSS upload (default 2048)")
    parser.add_argument("--assets", type=int, help="assets in the SQLite catalog (100 000)")
    parser.add_argument("--mongomock-assets", type=int, help="assets on mongomock (5 000)")
    parser.add_argument("--tmp-dir", help="where the files and data go (default: $TMPDIR)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "bench.json")
    parser.add_argument(
        "--report",
        type=Path,
        help="only print the report of a results JSON (and with --markdown yes, write it)",
    )
    parser.add_argument(
        "--markdown",
        choices=("auto", "yes", "no"),
        default="auto",
        help="rewrite the results block of BENCHMARKS.md (auto: on full runs of every phase)",
    )
    args = parser.parse_args(argv)
    if not Path("/proc/self/stat").exists():
        parser.error("Linux only: CPU and memory are read from /proc")
    if args.report is not None:
        saved = json.loads(args.report.read_text())
        text = report_markdown(saved)
        print(text)
        if args.markdown == "yes" and write_markdown(text):
            print(f"updated the results block of {MARKDOWN.name}")
        return 0
    plan = Plan.make(args)
    if plan.runs < 1:
        parser.error("--runs must be at least 1")
    results, failures = run(plan, args.tmp_dir)
    text = report_markdown(results)
    print("\n" + text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    stamped = args.output.with_name(
        f"bench-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if plan.quick else ''}.json"
    )
    stamped.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.output} (and {stamped.name})")
    full = not plan.quick and plan.only == set(PHASES)
    wanted = args.markdown == "yes" or (args.markdown == "auto" and full)
    if wanted and write_markdown(text):
        print(f"updated the results block of {MARKDOWN.name}")
    if failures:
        print(f"{len(failures)} check(s) of the bytes served failed", file=sys.stderr)
        return 1
    return 0
