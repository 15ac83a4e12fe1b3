#!/usr/bin/env python3
"""Upload and download throughput through the service on the S3 blob store, next to the
``minio`` SDK's own put and get against the same server in the same run.

Starts ``moto_server`` on a free 127.0.0.1 port (or uses ``--s3-url``, e.g. a real MinIO),
writes a file of random bytes (a WAV, so the audio type accepts it), then:

1. ``minio`` SDK directly: ``fput_object`` (8 MiB parts, the SDK's 3 parallel uploads) and a
   streamed ``get_object`` (1 MiB reads, hashed) — the anchor;
2. the service (``asset-service serve`` as a subprocess, S3 blob store, SQLite catalog): the
   upload with curl (multipart/form-data, streamed from disk) and the download with curl,
   hashed as it arrives; the server's RSS is sampled meanwhile.

    python bench/s3_throughput.py                 # 200 MiB against moto_server
    python bench/s3_throughput.py --size-mib 50
    python bench/s3_throughput.py --s3-url 's3://KEY:SECRET@127.0.0.1:9000?secure=false'

Prints a table and writes bench/results/s3_throughput.json. moto keeps objects in RAM and is
slow: compare the service with the SDK in the same run, not with other machines' numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from procs import free_port, service_env, service_token, start_service, status_kib, stop_service
from upload_memory import RssSampler, curl, curl_sha256, write_random_wav

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


def sdk_round_trip(s3_url: str, source: Path, expected: str) -> dict[str, float]:
    from minio import Minio

    options = parse_s3_url(s3_url)
    client = Minio(
        options.endpoint,
        access_key=options.access_key,
        secret_key=options.secret_key,
        secure=options.secure,
        region=options.region,
    )
    bucket = f"bench-sdk-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bucket)
    size = source.stat().st_size
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
    return {
        "sdk_put_s": round(put_s, 3),
        "sdk_put_mib_s": round(size / MiB / put_s, 1),
        "sdk_get_s": round(get_s, 3),
        "sdk_get_mib_s": round(size / MiB / get_s, 1),
    }


def service_round_trip(
    s3_url: str, source: Path, expected: str, work: Path, timeout: float
) -> dict[str, object]:
    size = source.stat().st_size
    prefix = f"bench{uuid.uuid4().hex[:6]}-"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(
        work / "data",
        port,
        max_upload_bytes=str(size + 64 * MiB),
        blob_store=f"{s3_url}&bucket_prefix={prefix}",
    )
    log_path = work / "server.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        process = start_service(env, log_path, base)
        token = service_token(env)
        auth = ["-H", f"Authorization: Bearer {token}"]
        time.sleep(0.5)
        baseline_kib = status_kib(process.pid, "VmRSS") or 0
        response = work / "upload.json"
        with RssSampler(process.pid) as upload_rss:
            status, upload_s = curl(
                [
                    *auth,
                    *("-H", "Expect:"),
                    *("-F", f"file=@{source};type=audio/wav"),
                    *("-o", str(response), "-w", "%{http_code}"),
                    f"{base}/api/assets/upload",
                ],
                timeout,
            )
        body = response.read_text()
        if status != "201":
            raise RuntimeError(f"upload answered {status}: {body[:500]}")
        asset = json.loads(body)
        with RssSampler(process.pid) as download_rss:
            status, count, actual, download_s = curl_sha256(
                [*auth, f"{base}/api/assets/{asset['asset_id']}/download"], timeout
            )
        if status != "200" or count != size or actual != expected:
            raise RuntimeError(f"download answered {status} with {count} bytes")
        return {
            "service_upload_s": round(upload_s, 3),
            "service_upload_mib_s": round(size / MiB / upload_s, 1),
            "service_download_s": round(download_s, 3),
            "service_download_mib_s": round(size / MiB / download_s, 1),
            "server_baseline_rss_mib": round(baseline_kib / 1024, 1),
            "server_upload_peak_rss_mib": round(upload_rss.peak_mib, 1),
            "server_download_peak_rss_mib": round(download_rss.peak_mib, 1),
            "server_checksum_ok": asset.get("checksum") == expected,
            "bucket_prefix": prefix,
        }
    except Exception:
        if log_path.exists():
            print(f"--- server log ---\n{log_path.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        if process is not None:
            stop_service(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=200, help="file size (default 200)")
    parser.add_argument("--s3-url", default="", help="an S3 server to use instead of moto")
    parser.add_argument("--tmp-dir", default=None, help="where the file and data dir go")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        parser.error("curl is needed")
    size = args.size_mib * MiB
    timeout = max(300.0, size / MiB)
    work = Path(tempfile.mkdtemp(prefix="asset-s3-bench-", dir=args.tmp_dir))
    moto: subprocess.Popen[bytes] | None = None
    try:
        s3_url = args.s3_url
        if not s3_url:
            moto, s3_url = start_moto(work / "moto.log")
        server = urlsplit(s3_url.replace("s3://", "http://", 1)).hostname
        source = work / "bench.wav"
        expected = write_random_wav(source, size)
        kind = "moto" if moto else "given"
        print(f"{args.size_mib} MiB of random audio; S3 server: {server} ({kind})")
        result: dict[str, object] = {"size_mib": args.size_mib, "s3": kind}
        result.update(sdk_round_trip(s3_url, source, expected))
        print(
            f"  minio SDK  put {result['sdk_put_mib_s']:>7} MiB/s   "
            f"get  {result['sdk_get_mib_s']:>7} MiB/s"
        )
        result.update(service_round_trip(s3_url, source, expected, work, timeout))
        print(
            f"  service    up  {result['service_upload_mib_s']:>7} MiB/s   "
            f"down {result['service_download_mib_s']:>7} MiB/s   (server RSS peak "
            f"{result['server_upload_peak_rss_mib']} MiB up, "
            f"{result['server_download_peak_rss_mib']} MiB down)"
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
        return 0 if result["server_checksum_ok"] else 1
    finally:
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                moto.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
