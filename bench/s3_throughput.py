#!/usr/bin/env python3
"""Upload and download throughput through the service on the S3 blob store, next to the
``minio`` SDK's own put and get against the same server in the same run, and the service's
peak RSS while it uploads and downloads a large file (2 GiB).

Starts ``moto_server`` on a free 127.0.0.1 port (or uses ``--s3-url``, e.g. a real MinIO) and one
``asset-service serve`` (real Hypercorn on loopback, S3 blob store, SQLite catalog, previews
off) on it, writes a file of random bytes (a WAV, so the audio type accepts it), then, round by
round so that a change of the shared machine's load falls on both alike:

1. ``minio`` SDK directly: ``fput_object`` (8 MiB parts, the SDK's 3 parallel uploads) and a
   streamed ``get_object`` (1 MiB reads, hashed) — the anchor;
2. the service: the upload with curl (multipart/form-data, streamed from disk) and the download
   with urllib3 (the SDK's own HTTP client), 1 MiB reads hashed as they arrive.

The ratios are the rounds' medians, service / SDK. Then the RSS run: a ``--rss-size-mib`` file
up and down through the service, its VmRSS sampled every 50 ms.

    python bench/s3_throughput.py                  # 200 MiB x 5 rounds, then 2 GiB for RSS
    python bench/s3_throughput.py --quick          # 16 MiB, one round, no RSS run
    python bench/s3_throughput.py --s3-url 's3://KEY:SECRET@127.0.0.1:9000?secure=false'

Prints a table and writes bench/results/s3_throughput.json. moto is slow and keeps a completed
object in memory: compare the service with the SDK in the same run, not with other machines'
numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from procs import free_port, service_env, service_token, start_service, status_kib, stop_service
from upload_memory import RssSampler, curl, write_random_wav

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asset_service.engine.adapters.s3 import parse_s3_url  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "s3_throughput.json"
MiB = 1024**2
PART = 8 * MiB


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                return process, f"s3://testing:testing@127.0.0.1:{port}?secure=false"
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto_server did not start within 30 s")


def sdk_client(s3_url: str) -> Any:
    from minio import Minio

    options = parse_s3_url(s3_url)
    return Minio(
        options.endpoint,
        access_key=options.access_key,
        secret_key=options.secret_key,
        secure=options.secure,
        region=options.region,
    )


def sdk_round(client: Any, source: Path, expected: str) -> tuple[float, float]:
    """One direct put and get; their wall times."""
    bucket = f"bench-sdk-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bucket)
    try:
        started = time.perf_counter()
        client.fput_object(bucket, "blob", str(source), part_size=PART)
        put_s = time.perf_counter() - started

        started = time.perf_counter()
        digest = hashlib.sha256()
        response = client.get_object(bucket, "blob")
        try:
            for chunk in response.stream(MiB):
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        get_s = time.perf_counter() - started
        if digest.hexdigest() != expected:
            raise RuntimeError("the SDK's download does not match")
    finally:
        for found in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, found.object_name)
        client.remove_bucket(bucket)
    return put_s, get_s


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base: str
    token: str
    #: an admin's, for purging what each round uploaded
    admin_token: str
    work: Path
    timeout: float

    def upload(self, source: Path) -> tuple[dict[str, Any], float, float]:
        """The asset, the wall time and the server's peak RSS (MiB) meanwhile."""
        response = self.work / "upload.json"
        with RssSampler(self.process.pid) as rss:
            status, elapsed = curl(
                [
                    *("-H", f"Authorization: Bearer {self.token}"),
                    *("-H", "Expect:"),
                    *("-F", f"file=@{source};type=audio/wav"),
                    *("-o", str(response), "-w", "%{http_code}"),
                    f"{self.base}/api/assets/upload",
                ],
                self.timeout,
            )
        body = response.read_text()
        if status != "201":
            raise RuntimeError(f"upload answered {status}: {body[:500]}")
        return json.loads(body), elapsed, rss.peak_mib

    def download(self, asset: dict[str, Any], size: int, expected: str) -> tuple[float, float]:
        """The wall time and the server's peak RSS (MiB) meanwhile. The client is the one the
        SDK's get runs on (urllib3, 1 MiB reads, hashed), so that the two compare: curl
        writing into a pipe read by this process was slower than the server."""
        import urllib3

        url = f"{self.base}/api/assets/{asset['asset_id']}/download"
        with urllib3.PoolManager() as http, RssSampler(self.process.pid) as rss:
            started = time.perf_counter()
            response = http.request(
                "GET",
                url,
                headers={"Authorization": f"Bearer {self.token}"},
                preload_content=False,
                timeout=self.timeout,
            )
            digest = hashlib.sha256()
            count = 0
            try:
                for chunk in response.stream(MiB):
                    digest.update(chunk)
                    count += len(chunk)
            finally:
                response.release_conn()
            elapsed = time.perf_counter() - started
        if response.status != 200 or count != size or digest.hexdigest() != expected:
            raise RuntimeError(f"download answered {response.status} with {count} bytes")
        return elapsed, rss.peak_mib

    def delete(self, asset: dict[str, Any]) -> None:
        """Purge it, so that moto's memory does not grow round by round (best effort)."""
        request = urllib.request.Request(
            f"{self.base}/api/assets/{asset['asset_id']}?permanent=true",
            method="DELETE",
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60):
                pass
        except (urllib.error.URLError, OSError):
            pass

    def rss_mib(self) -> float:
        return (status_kib(self.process.pid, "VmRSS") or 0) / 1024


def start(s3_url: str, work: Path, max_bytes: int, timeout: float) -> Service:
    prefix = f"bench{uuid.uuid4().hex[:6]}-"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(
        work / "data",
        port,
        max_upload_bytes=str(max_bytes),
        blob_store=f"{s3_url}&bucket_prefix={prefix}",
        # No waveform of the random audio rendering under the figures.
        previews="off",
    )
    process = start_service(env, work / "server.log", base)
    admin = subprocess.run(
        [
            *(sys.executable, "-m", "asset_service.cli", "token"),
            *("--user", "bench-admin", "--customer", "bench", "--role", "admin"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    return Service(process, base, service_token(env), admin, work, timeout)


def ratio(service: list[float], sdk: list[float]) -> float:
    return round(statistics.median(service) / statistics.median(sdk), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=200, help="file size (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--rss-size-mib", type=int, default=2048, help="the RSS run's file (default 2048; 0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="16 MiB, one round, no RSS run")
    parser.add_argument("--s3-url", default="", help="an S3 server to use instead of moto")
    parser.add_argument("--tmp-dir", default=None, help="where the files and data dir go")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mib, args.rounds, args.rss_size_mib = 16, 1, 0
    if shutil.which("curl") is None:
        parser.error("curl is needed")
    size = args.size_mib * MiB
    big = args.rss_size_mib * MiB
    timeout = max(300.0, max(size, big) / MiB)
    work = Path(tempfile.mkdtemp(prefix="asset-s3-bench-", dir=args.tmp_dir))
    moto: subprocess.Popen[bytes] | None = None
    service: Service | None = None
    try:
        s3_url = args.s3_url
        if not s3_url:
            moto, s3_url = start_moto(work / "moto.log")
        server = urlsplit(s3_url.replace("s3://", "http://", 1)).hostname
        source = work / "bench.wav"
        expected = write_random_wav(source, size)
        kind = "moto" if moto else "given"
        print(
            f"{args.size_mib} MiB of random audio x {args.rounds} round(s); "
            f"S3 server: {server} ({kind}); load {os.getloadavg()[0]:.2f}"
        )
        client = sdk_client(s3_url)
        service = start(s3_url, work, max(size, big) + 64 * MiB, timeout)
        time.sleep(0.5)
        result: dict[str, Any] = {
            "size_mib": args.size_mib,
            "rounds": args.rounds,
            "s3": kind,
            "server_baseline_rss_mib": round(service.rss_mib(), 1),
        }
        sdk_put: list[float] = []
        sdk_get: list[float] = []
        up: list[float] = []
        down: list[float] = []
        for number in range(1, args.rounds + 1):
            put_s, get_s = sdk_round(client, source, expected)
            asset, up_s, _ = service.upload(source)
            if asset.get("checksum") != expected:
                raise RuntimeError("the service's checksum does not match")
            down_s, _ = service.download(asset, size, expected)
            service.delete(asset)
            sdk_put.append(args.size_mib / put_s)
            sdk_get.append(args.size_mib / get_s)
            up.append(args.size_mib / up_s)
            down.append(args.size_mib / down_s)
            print(
                f"  round {number}: SDK put {sdk_put[-1]:7.1f} get {sdk_get[-1]:7.1f} MiB/s   "
                f"service up {up[-1]:7.1f} down {down[-1]:7.1f} MiB/s   "
                f"(load {os.getloadavg()[0]:.2f})"
            )
        result.update(
            sdk_put_mib_s=[round(v, 1) for v in sdk_put],
            sdk_get_mib_s=[round(v, 1) for v in sdk_get],
            service_upload_mib_s=[round(v, 1) for v in up],
            service_download_mib_s=[round(v, 1) for v in down],
            upload_ratio=ratio(up, sdk_put),
            download_ratio=ratio(down, sdk_get),
        )
        print(
            f"  median ratio service/SDK: upload {result['upload_ratio']}x, "
            f"download {result['download_ratio']}x"
        )
        source.unlink()
        if big:
            big_source = work / "big.wav"
            big_expected = write_random_wav(big_source, big)
            asset, up_s, up_peak = service.upload(big_source)
            big_source.unlink()  # disk: the moto server and the spool hold copies meanwhile
            down_s, down_peak = service.download(asset, big, big_expected)
            service.delete(asset)
            result.update(
                rss_size_mib=args.rss_size_mib,
                rss_upload_mib_s=round(args.rss_size_mib / up_s, 1),
                rss_download_mib_s=round(args.rss_size_mib / down_s, 1),
                server_upload_peak_rss_mib=round(up_peak, 1),
                server_download_peak_rss_mib=round(down_peak, 1),
            )
            print(
                f"  {args.rss_size_mib} MiB through the service: up {result['rss_upload_mib_s']} "
                f"MiB/s, peak RSS {up_peak:.1f} MiB; down {result['rss_download_mib_s']} MiB/s, "
                f"peak RSS {down_peak:.1f} MiB (baseline {result['server_baseline_rss_mib']} MiB)"
            )
        if moto is not None:
            result["moto_rss_mib"] = round((status_kib(moto.pid, "VmRSS") or 0) / 1024, 1)
        result.update(
            when=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            python=platform.python_version(),
            cpus=os.cpu_count(),
            load_average=os.getloadavg(),
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results: {args.output}")
        return 0
    except Exception:
        log = work / "server.log"
        if log.exists():
            print(f"--- server log ---\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        if service is not None:
            stop_service(service.process)
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                moto.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
