"""The servers the production adapters are tested against, and how to reach them.

Stand-ins, started here on a free 127.0.0.1 port once per test session (bounded readiness
wait) and stopped at its end — unless the variable naming an already running one is set:

- ``ASSET_TEST_MOTO_URL`` (``http://127.0.0.1:PORT``): ``moto_server``, a real S3-protocol
  server over HTTP, for the S3 blob store;
- ``ASSET_TEST_NX_URL`` (``mongodb://127.0.0.1:PORT``): ``nx-27017``, a MongoDB wire-protocol
  server, for a connection smoke test only (it corrupts some data: docs/decisions.md).

Real servers, used only when set (their tests are skipped otherwise):

- ``ASSET_TEST_S3_URL`` (``s3://ACCESS:SECRET@HOST:PORT?secure=false``): MinIO or any S3;
- ``ASSET_TEST_MONGO_URL`` (``mongodb://HOST:PORT``): MongoDB.

Every test gets its own bucket prefix (or database), removed again afterwards, so runs never
see each other's data on a shared server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error

MOTO_URL_VAR = "ASSET_TEST_MOTO_URL"
NX_URL_VAR = "ASSET_TEST_NX_URL"
S3_URL_VAR = "ASSET_TEST_S3_URL"
MONGO_URL_VAR = "ASSET_TEST_MONGO_URL"

REAL_S3_URL = os.environ.get(S3_URL_VAR, "")
REAL_MONGO_URL = os.environ.get(MONGO_URL_VAR, "")

START_TIMEOUT = 30.0
MOTO_CREDENTIALS = ("testing", "testing")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def _accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class ServerProcess:
    """A server subprocess bound to 127.0.0.1: started, waited for (bounded), always stopped."""

    def __init__(
        self, name: str, argv: list[str], log: Path, ready: Callable[[], bool], env=None
    ) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.process.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} not ready after {START_TIMEOUT} s: {self.tail()}")
            time.sleep(0.05)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_moto(log_dir: Path, env: dict[str, str] | None = None) -> tuple[ServerProcess, str]:
    """``moto_server`` on a free port; returns it and its ``http://127.0.0.1:PORT``."""
    for attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        try:
            log = log_dir / f"moto-{port}.log"
            server = ServerProcess(
                "moto_server", argv, log, lambda url=url: _answers_http(f"{url}/moto-api/"), env
            )
            return server, url
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_nx(log_dir: Path) -> tuple[ServerProcess, str]:
    """``nx-27017`` with an in-memory database on a free port; returns it and its URL."""
    for attempt in range(3):
        port = free_port()
        argv = [
            sys.executable,
            "-c",
            "import sys; from nx_27017.nx_27017 import main; sys.exit(main())",
            "--db",
            "memory",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--log-file",
            str(log_dir / f"nx-{port}.log"),
            "--pid-file",
            str(log_dir / f"nx-{port}.pid"),
        ]
        try:
            log = log_dir / f"nx-{port}.out"
            server = ServerProcess("nx-27017", argv, log, lambda port=port: _accepts_tcp(port))
            return server, f"mongodb://127.0.0.1:{port}"
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_moto(log_dir: Path) -> Iterator[str]:
    """The moto URL: ``ASSET_TEST_MOTO_URL`` if set, else a moto_server of our own."""
    url = os.environ.get(MOTO_URL_VAR)
    if url:
        yield url.rstrip("/")
        return
    server, url = start_moto(log_dir)
    try:
        yield url
    finally:
        server.stop()


@contextlib.contextmanager
def running_nx(log_dir: Path) -> Iterator[str]:
    url = os.environ.get(NX_URL_VAR)
    if url:
        yield url
        return
    server, url = start_nx(log_dir)
    try:
        yield url
    finally:
        server.stop()


# --- S3 URLs and clean-up ------------------------------------------------------------------


def new_bucket_prefix() -> str:
    """Unique per test: ``t`` and 8 hex digits and a dash (S3 names: lower case)."""
    return f"t{uuid.uuid4().hex[:8]}-"


def moto_s3_url(moto_url: str, bucket_prefix: str = "") -> str:
    host = urlsplit(moto_url).netloc
    access, secret = MOTO_CREDENTIALS
    url = f"s3://{access}:{secret}@{host}?secure=false&region=us-east-1"
    return url + (f"&bucket_prefix={bucket_prefix}" if bucket_prefix else "")


def with_bucket_prefix(s3_url: str, bucket_prefix: str) -> str:
    separator = "&" if "?" in s3_url else "?"
    return f"{s3_url}{separator}bucket_prefix={bucket_prefix}"


def sdk_client(s3_url: str) -> Minio:
    """A plain ``minio`` client for what an ``s3://`` URL points to (for tests' own looks)."""
    from asset_service.engine.adapters.s3 import parse_s3_url

    options = parse_s3_url(s3_url)
    return Minio(
        options.endpoint,
        access_key=options.access_key,
        secret_key=options.secret_key,
        secure=options.secure,
        region=options.region,
    )


class BucketJanitor:
    """Drops the buckets of finished tests in a background thread, so that a test's teardown
    does not wait for it; ``close`` (at the end of the session) waits for all of them."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="janitor")
        self._pending: list[concurrent.futures.Future[None]] = []

    def drop(self, s3_url: str) -> None:
        self._pending.append(self._pool.submit(drop_buckets, s3_url))

    def wait(self) -> None:
        """Until every drop asked for is done; a failure to clean up is reported here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def drop_buckets(s3_url: str) -> None:
    """Remove every bucket with the URL's ``bucket_prefix``, with its objects and unfinished
    multipart uploads."""
    from asset_service.engine.adapters.s3 import parse_s3_url

    prefix = parse_s3_url(s3_url).bucket_prefix
    assert prefix, "refusing to drop every bucket of a server"
    client = sdk_client(s3_url)
    for bucket in client.list_buckets():
        if not bucket.name.startswith(prefix):
            continue
        for upload in client._list_multipart_uploads(bucket.name).uploads:
            with contextlib.suppress(S3Error):
                client._abort_multipart_upload(bucket.name, upload.object_name, upload.upload_id)
        for found in client.list_objects(bucket.name, recursive=True):
            client.remove_object(bucket.name, found.object_name)
        with contextlib.suppress(S3Error):
            client.remove_bucket(bucket.name)


def s3_contents(s3_url: str) -> list[str]:
    """Every object as ``bucket/key`` and every unfinished multipart upload as
    ``.partial/bucket/key`` under the URL's bucket prefix (logical bucket names): the S3 twin of
    listing a filesystem store's directory."""
    from asset_service.engine.adapters.s3 import parse_s3_url

    prefix = parse_s3_url(s3_url).bucket_prefix
    client = sdk_client(s3_url)
    buckets = [b.name for b in client.list_buckets() if b.name.startswith(prefix)]

    def objects(bucket: str) -> list[str]:
        logical = bucket[len(prefix) :]
        return [f"{logical}/{o.object_name}" for o in client.list_objects(bucket, recursive=True)]

    def uploads(bucket: str) -> list[str]:
        logical = bucket[len(prefix) :]
        found = client._list_multipart_uploads(bucket).uploads
        return [f".partial/{logical}/{upload.object_name}" for upload in found]

    # Every listing at once: the HTTP tests call this before and after each request.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        listings = [pool.submit(look, bucket) for bucket in buckets for look in (objects, uploads)]
        return sorted(name for listing in listings for name in listing.result())
