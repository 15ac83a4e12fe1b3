"""A small HTTP/1.1 load client on raw sockets, for loopback only.

One ``Connection`` is one keep-alive socket; responses are read into one reused buffer and
discarded (only their length is kept) unless asked for, so the client costs little next to the
server it measures. Uploads send the file with ``socket.sendfile`` (zero-copy). Every loop is
bounded by a request count and a deadline, and every socket operation by a timeout.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BUFFER = 4 * 1024 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class HttpError(RuntimeError):
    pass


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    length: int
    body: bytes | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


def split_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"the bench only talks to loopback addresses, not {host!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, parts.port or 80, path


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.host, self.port, _ = split_url(base_url)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._buffer = bytearray(BUFFER)
        self._view = memoryview(self._buffer)
        self._pending = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            self._pending = b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _head(self, method: str, path: str, headers: dict[str, str] | None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        *,
        keep_body: bool = False,
        digest: Any = None,
    ) -> Response:
        """One request; the body is discarded (only its length kept) unless ``keep_body``,
        and fed to ``digest`` (a hashlib object) if given."""
        sock = self._connect()
        if body and not any(name.lower() == "content-length" for name in headers or {}):
            headers = {**(headers or {}), "Content-Length": str(len(body))}
        head = self._head(method, path, headers)
        try:
            sock.sendall(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                sock.sendall(body)
            return self._read_response(method, keep_body, digest)
        except BaseException:
            self.close()
            raise

    def upload_file(
        self,
        path: str,
        headers: dict[str, str],
        preamble: bytes,
        file: Path,
        epilogue: bytes,
    ) -> Response:
        """POST ``preamble + <file> + epilogue`` (Content-Length set here); the file goes out
        with ``sendfile``."""
        sock = self._connect()
        size = file.stat().st_size
        all_headers = {**headers, "Content-Length": str(len(preamble) + size + len(epilogue))}
        try:
            sock.sendall(self._head("POST", path, all_headers) + preamble)
            with file.open("rb") as handle:
                sent = sock.sendfile(handle)
            if sent != size:
                raise HttpError(f"sendfile sent {sent} of {size} bytes")
            sock.sendall(epilogue)
            return self._read_response("POST", keep_body=True)
        except BaseException:
            self.close()
            raise

    def _recv(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise HttpError("connection closed by the server")
        return data

    def _read_response(self, method: str, keep_body: bool, digest: Any = None) -> Response:
        data = self._pending
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
            if len(data) > 65536:
                raise HttpError("response head larger than 64 KiB")
        head, rest = data[:end], data[end + 4 :]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if no_body:
            self._pending = rest
            return self._finish(Response(status, headers, 0, b"" if keep_body else None))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, self._pending = self._read_chunked(rest)
            return self._finish(Response(status, headers, len(body), body if keep_body else None))
        if "content-length" not in headers:
            raise HttpError("a response without Content-Length nor chunked framing")
        length = int(headers["content-length"])
        if digest is not None:
            digest.update(rest[:length])
        if len(rest) >= length:
            self._pending = rest[length:]
            return self._finish(
                Response(status, headers, length, rest[:length] if keep_body else None)
            )
        self._pending = b""
        if keep_body:
            body = bytearray(rest)
            while len(body) < length:
                body += self._recv()
            if len(body) > length:
                self._pending = bytes(body[length:])
                del body[length:]
            return self._finish(Response(status, headers, length, bytes(body)))
        remaining = length - len(rest)
        assert self.sock is not None
        view = self._view
        recv_into = self.sock.recv_into
        while remaining:
            got = recv_into(view, min(remaining, BUFFER))
            if not got:
                raise HttpError(f"body cut with {remaining} bytes to go")
            if digest is not None:
                digest.update(view[:got])
            remaining -= got
        return self._finish(Response(status, headers, length))

    def _finish(self, response: Response) -> Response:
        if response.header("connection", "").lower() == "close":
            self.close()
        return response

    def _read_chunked(self, data: bytes) -> tuple[bytes, bytes]:
        body = bytearray()
        while True:
            while (end := data.find(b"\r\n")) < 0:
                data += self._recv()
            size = int(data[:end].split(b";")[0], 16)
            data = data[end + 2 :]
            while len(data) < size + 2:
                data += self._recv()
            body += data[:size]
            data = data[size + 2 :]
            if size == 0:
                return bytes(body), data


# --- loads -----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a bounded load loop did."""

    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    #: latency of every request, in seconds (only when asked for)
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_load(
    base_url: str,
    make_request: Callable[[random.Random], tuple[str, dict[str, str]]],
    *,
    connections: int,
    max_requests: int,
    max_seconds: float,
    expect: Iterable[int] = (200,),
    expect_length: int | None = None,
    record_latency: bool = False,
    seed: int = 1,
    timeout: float = 30.0,
) -> LoadResult:
    """``connections`` threads, each on its own keep-alive connection, send GET requests
    (``make_request(rng) -> (path, headers)``) back to back until ``max_requests`` in all or
    ``max_seconds`` have passed, whichever first. Every response must have a status in
    ``expect`` (and the length ``expect_length``, if given); the first few mismatches are
    kept as errors, and a failed request ends that thread."""
    expected = set(expect)
    result = LoadResult()
    lock = threading.Lock()
    budget = [max_requests]
    start_barrier = threading.Barrier(connections + 1)

    def take() -> bool:
        with lock:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return True

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        latencies: list[float] = []
        count = 0
        received = 0
        error: str | None = None
        try:
            with Connection(base_url, timeout=timeout) as connection:
                connection._connect()
                start_barrier.wait(timeout=30)
                deadline = time.perf_counter() + max_seconds
                while time.perf_counter() < deadline and take():
                    path, headers = make_request(rng)
                    began = time.perf_counter()
                    response = connection.request("GET", path, headers)
                    if record_latency:
                        latencies.append(time.perf_counter() - began)
                    if response.status not in expected or (
                        expect_length is not None and response.length != expect_length
                    ):
                        error = f"GET {path}: {response.status}, {response.length} bytes"
                        break
                    count += 1
                    received += response.length
        except (OSError, HttpError, threading.BrokenBarrierError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            with lock:
                result.requests += count
                result.bytes += received
                result.latencies += latencies
                if error is not None and len(result.errors) < 5:
                    result.errors.append(error)

    threads = [
        threading.Thread(target=worker, args=(index,), daemon=True, name=f"load-{index}")
        for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start_barrier.wait(timeout=30)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max_seconds + timeout + 5)
    result.seconds = time.perf_counter() - started
    if any(thread.is_alive() for thread in threads):
        result.errors.append("a load thread did not finish in time")
    return result


def random_range(size: int, length: int) -> Callable[[random.Random], str]:
    """A ``Range`` header value for ``length`` bytes at a random offset of a ``size``-byte
    file."""

    def pick(rng: random.Random) -> str:
        start = rng.randrange(0, size - length + 1)
        return f"bytes={start}-{start + length - 1}"

    return pick
