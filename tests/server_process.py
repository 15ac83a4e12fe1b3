"""The real server as a subprocess, for crash and shutdown tests.

``ServerProcess`` runs ``python -m asset_service.cli serve`` on a free 127.0.0.1 port, waits
(bounded) for its "listening on" line and always kills and reaps it on the way out. Beside it:
``run_cleanup_once`` (the ``cleanup --once`` subcommand, its JSON report parsed), tokens, a
streamed multipart upload over a raw socket (so a test controls exactly how much of the body has
been sent when it kills the server) and readers of what is on disk (blobs, partial files,
catalog rows).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from asset_service.config import Settings
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.catalog import AssetQuery
from asset_service.engine.model import Asset
from asset_service.http.app import token_policy
from asset_service.http.auth import issue_token

SECRET = "crash-test-secret-of-sufficient-length-for-hs256-0123456789"
START_TIMEOUT = 20.0
TEMP_BUCKET = "temp-uploads"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def server_env(data_dir: Path, **settings: object) -> dict[str, str]:
    """The environment of a server or CLI process: this one's, minus any ``ASSET_*`` the caller
    may have set, plus a private data dir on 127.0.0.1 with a free port and no scheduled
    cleanup during a test (``ASSET_<NAME>`` for every keyword ``name=value``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSET_")}
    env.update(
        {
            "ASSET_DATA_DIR": str(data_dir),
            "ASSET_JWT_SECRET": SECRET,
            "ASSET_HOST": "127.0.0.1",
            "ASSET_PORT": "0",
            "ASSET_CLEANUP_INTERVAL": "86400",
            "ASSET_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"ASSET_{name.upper()}": str(value) for name, value in settings.items()})
    return env


class ServerProcess:
    """``with ServerProcess(env) as server: ... server.base_url``. Leaving the block SIGKILLs
    the process if it is still running and reaps it, whatever happened inside."""

    def __init__(self, env: dict[str, str], *, start_timeout: float = START_TIMEOUT) -> None:
        self.env = env
        self.data_dir = Path(env["ASSET_DATA_DIR"])
        self.start_timeout = start_timeout
        self.base_url = ""
        self.host = ""
        self.port = 0
        self.log_path = self.data_dir.parent / f"server-{time.monotonic_ns()}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._log = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> ServerProcess:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "asset_service.cli", "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        # A thread drains stdout for the whole life of the process (a full pipe would block
        # the server) and hands the lines over; waiting on the queue is what bounds the start.
        threading.Thread(target=self._pump, args=(self._process.stdout,), daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise AssertionError(
                    f"the server did not start within {self.start_timeout} s:\n{self.log_text()}"
                )
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait(timeout=5)
                self.close()
                raise AssertionError(
                    f"the server exited with {code} before listening:\n{self.log_text()}"
                )
            text = line.decode(errors="replace").strip()
            if "listening on " in text:
                self.base_url = text.rsplit("listening on ", 1)[1].strip()
                parts = urlsplit(self.base_url)
                self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
                return self

    def _pump(self, stream: Any) -> None:
        try:
            for line in iter(stream.readline, b""):
                self._lines.put(line)
        finally:
            self._lines.put(None)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    # --- signals -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def poll(self) -> int | None:
        assert self._process is not None, "not started"
        return self._process.poll()

    def kill(self) -> int:
        """SIGKILL, then reap; returns the exit status (``-SIGKILL``)."""
        os.kill(self.pid, signal.SIGKILL)
        return self.wait(10)

    def terminate(self) -> None:
        os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self._process is not None, "not started"
        return self._process.wait(timeout=timeout)

    def log_text(self) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> None:
        wait_until(lambda: needle in self.log_text(), timeout, f"{needle!r} in the server log")

    def connect(self, timeout: float = 30.0) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)


# --- polling -------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.01
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- CLI subcommands -----------------------------------------------------------------------


def run_cli(env: dict[str, str], *args: str, timeout: float = 30.0) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "asset_service.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"asset-service {' '.join(args)} exited with {done.returncode}:\n"
        f"{done.stdout.decode(errors='replace')}\n{done.stderr.decode(errors='replace')}"
    )
    return done.stdout.decode()


def run_cleanup_once(env: dict[str, str], timeout: float = 30.0) -> dict[str, Any]:
    """``asset-service cleanup --once`` in its own process; its JSON report."""
    output = run_cli(env, "cleanup", "--once", timeout=timeout)
    return json.loads(output.strip().splitlines()[-1])


def mint_token(
    *,
    user: str = "alice",
    customer: str = "acme",
    roles: Iterable[str] = ("editor",),
    ttl: float = 600.0,
    secret: str = SECRET,
) -> str:
    return issue_token(
        token_policy(Settings(jwt_secret=secret)),
        user=user,
        customer=customer,
        roles=list(roles),
        ttl=ttl,
    )


def token_from_cli(
    env: dict[str, str], *, user: str, customer: str, roles: Iterable[str] = ("editor",)
) -> str:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return run_cli(env, "token", "--user", user, "--customer", customer, *role_args).strip()


# --- content -------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_bytes(size: int, seed: int) -> bytes:
    """``size`` bytes of printable UTF-8 text (a 'document'), different for every seed."""
    line = f"seed {seed:08d} the quick brown fox jumps over the lazy dog 0123456789\n".encode()
    return (line * (size // len(line) + 1))[:size]


def png_bytes(size: int, seed: int) -> bytes:
    """A valid 1x1 PNG of exactly ``size`` bytes: a private ancillary chunk of seeded filler
    makes up the size (the image plugin decodes images, so filler after a bare signature would
    be refused)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x7f"))
    iend = chunk(b"IEND", b"")
    pad_size = max(size - len(PNG_SIGNATURE) - len(ihdr) - len(idat) - len(iend) - 12, 0)
    filler = bytes((seed + i) % 251 for i in range(251))
    pad = (filler * (pad_size // len(filler) + 1))[:pad_size]
    return PNG_SIGNATURE + ihdr + chunk(b"teSt", pad) + idat + iend


# --- a multipart upload over a raw socket ----------------------------------------------------

BOUNDARY = "crashtestboundary7d1f0a"


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def multipart_parts(filename: str, content_type: str) -> tuple[bytes, bytes]:
    """The bytes before and after the file's content in a one-part form."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail


def upload_request_head(
    server: ServerProcess, token: str, content_length: int, *, path: str = "/api/assets/upload"
) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {server.host}:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {content_length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


class StreamedUpload:
    """One upload whose body the test sends piece by piece: ``send_content(n)`` sends the next
    ``n`` bytes of the file, ``finish()`` the rest, ``response()`` reads the answer."""

    def __init__(
        self,
        server: ServerProcess,
        token: str,
        content: bytes,
        *,
        filename: str = "big.txt",
        content_type: str = "application/octet-stream",
    ) -> None:
        head, tail = multipart_parts(filename, content_type)
        self._content = content
        self._tail = tail
        self.sent = 0
        self.sock = server.connect()
        self.sock.sendall(upload_request_head(server, token, len(head) + len(content) + len(tail)))
        self.sock.sendall(head)

    def send_content(self, size: int) -> int:
        piece = self._content[self.sent : self.sent + size]
        self.sock.sendall(piece)
        self.sent += len(piece)
        return len(piece)

    @property
    def content_left(self) -> int:
        return len(self._content) - self.sent

    def finish(self) -> None:
        self.send_content(self.content_left)
        self.sock.sendall(self._tail)

    def response(self) -> HttpResponse:
        return read_response(self.sock)

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with a reset (SO_LINGER 0), as a client that dies does."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> StreamedUpload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_response(sock: socket.socket) -> HttpResponse:
    """Read one HTTP/1.1 response (Content-Length framed, or up to EOF); raises
    ``ConnectionError`` (or ``EOFError`` when nothing complete arrived) otherwise."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed before a complete response head: {bytes(data)!r}")
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = bytearray(rest)
    length = headers.get("content-length")
    while length is None or len(body) < int(length):
        chunk = sock.recv(65536)
        if not chunk:
            if length is not None:
                raise EOFError(f"body cut at {len(body)} of {length} bytes")
            break
        body += chunk
    return HttpResponse(status, headers, bytes(body))


# --- what is on disk ---------------------------------------------------------------------


def blobs_root(data_dir: Path) -> Path:
    return data_dir / "blobs"


def files_under(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file())


def temp_and_partial_files(data_dir: Path) -> list[Path]:
    """Every file in the temp bucket and every partial write (of any bucket)."""
    root = blobs_root(data_dir)
    return files_under(root / TEMP_BUCKET) + files_under(root / ".partial")


def partial_uploads(data_dir: Path) -> list[Path]:
    """Temp-bucket writes in progress (partials) or complete but not yet promoted."""
    root = blobs_root(data_dir)
    return files_under(root / ".partial" / TEMP_BUCKET) + files_under(root / TEMP_BUCKET)


def largest_upload_size(data_dir: Path) -> int:
    sizes = []
    for path in partial_uploads(data_dir):
        with contextlib.suppress(FileNotFoundError):  # promoted or removed meanwhile
            sizes.append(path.stat().st_size)
    return max(sizes, default=0)


def asset_blobs(data_dir: Path, *, previews: bool = False) -> dict[tuple[str, str], Path]:
    """``(bucket, key) -> path`` for every content blob in a type bucket (``blobs/*-assets/``);
    ``previews=True`` also lists the previews derived from them (``…/v1.previews/…``)."""
    root = blobs_root(data_dir)
    found: dict[tuple[str, str], Path] = {}
    for bucket_dir in sorted(root.glob("*-assets")):
        for path in files_under(bucket_dir):
            key = path.relative_to(bucket_dir).as_posix()
            if previews or ".previews/" not in key:
                found[(bucket_dir.name, key)] = path
    return found


def catalog_assets(data_dir: Path, customer: str) -> list[Asset]:
    """Every record of ``customer`` (live and soft-deleted), read with the service's own
    SQLite adapter."""

    async def read_all() -> list[Asset]:
        catalog = SqliteCatalog(data_dir / "catalog.db")
        await catalog.open()
        try:
            assets: list[Asset] = []
            cursor = None
            while True:
                page = await catalog.list(
                    AssetQuery(customer_id=customer, deleted=None, limit=200, cursor=cursor)
                )
                assets += page.items
                if page.next_cursor is None:
                    return assets
                cursor = page.next_cursor
        finally:
            await catalog.close()

    return trio.run(read_all)
