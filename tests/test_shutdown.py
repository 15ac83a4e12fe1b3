"""SIGTERM on the real server: idle, it exits 0 at once; with a download or an upload in flight,
the request is finished (Hypercorn's graceful timeout) or cut cleanly, the process exits 0 and
no temp or partial file is left behind."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import httpx
import pytest
from server_process import (
    ServerProcess,
    StreamedUpload,
    asset_blobs,
    catalog_assets,
    largest_upload_size,
    mint_token,
    read_response,
    server_env,
    sha256,
    temp_and_partial_files,
    text_bytes,
    wait_until,
)

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
CUSTOMER = "acme"
SIGTERM_LOGGED = "received SIGTERM: shutting down gracefully"
EXIT_TIMEOUT = 10


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(customer=CUSTOMER)}"}


def stop_gracefully(server: ServerProcess) -> None:
    """SIGTERM, then wait (bounded) until the server has acted on it."""
    server.terminate()
    server.wait_for_log(SIGTERM_LOGGED)


def test_sigterm_while_idle_exits_zero(tmp_path: Path) -> None:
    with ServerProcess(server_env(tmp_path / "data")) as server:
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
        server.terminate()
        assert server.wait(5) == 0
    assert temp_and_partial_files(tmp_path / "data") == []


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
def test_sigterm_with_an_idle_open_connection_exits_promptly(
    tmp_path: Path, connection: str
) -> None:
    """A client (a load balancer, a pool) holding a finished connection open must not keep the
    process alive for the whole graceful timeout."""
    with ServerProcess(server_env(tmp_path / "data")) as server, server.connect(10) as sock:
        sock.sendall(
            f"GET /healthz HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Connection: {connection}\r\n\r\n".encode()
        )
        assert read_response(sock).status == 200  # the socket stays open, idle
        server.terminate()
        assert server.wait(3) == 0


def read_download(sock: socket.socket, first: bytes) -> bytes:
    """The rest of a Content-Length framed 200 response whose first bytes were ``first``."""
    data = bytearray(first)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response head"
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    received = bytearray(body)
    while len(received) < length:
        chunk = sock.recv(1024 * 1024)
        if not chunk:
            break  # cut: the caller compares lengths
        received += chunk
    return bytes(received)


def start_slow_download(server: ServerProcess, asset_id: str) -> tuple[socket.socket, bytes]:
    """A slow reader: a small receive buffer, and only the first 64 KiB read, so the server is
    still sending a large file when the test goes on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(30)
    sock.connect((server.host, server.port))
    sock.sendall(
        f"GET /api/assets/{asset_id}/download HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Authorization: Bearer {mint_token(customer=CUSTOMER)}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    first = sock.recv(64 * 1024)
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    return sock, first


def upload_large(server: ServerProcess, content: bytes) -> str:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = client.post(
            "/api/assets/upload",
            headers=auth_headers(),
            files={"file": ("big.txt", content, "text/plain")},
        )
    assert response.status_code == 201, response.text
    return response.json()["asset_id"]


def test_sigterm_during_slow_download_finishes_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    content = text_bytes(32 * MiB, 7)
    with ServerProcess(server_env(data_dir)) as server:
        asset_id = upload_large(server, content)
        sock, first = start_slow_download(server, asset_id)
        with sock:
            stop_gracefully(server)
            assert server.poll() is None, "exited with a download in flight"
            body = read_download(sock, first)
        assert len(body) == len(content), "the download was cut"
        assert hashlib.sha256(body).hexdigest() == sha256(content)
        assert server.wait(EXIT_TIMEOUT) == 0
    assert temp_and_partial_files(data_dir) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_during_slow_upload_finishes_it(tmp_path: Path, workers: int) -> None:
    """With workers, the supervisor passes SIGTERM on and waits for the one uploading."""
    data_dir = tmp_path / "data"
    content = text_bytes(8 * MiB, 11)
    with ServerProcess(server_env(data_dir, workers=workers), start_timeout=90) as server:
        with StreamedUpload(server, mint_token(customer=CUSTOMER), content) as streamed:
            streamed.send_content(3 * MiB)
            wait_until(lambda: largest_upload_size(data_dir) > 0, 10, "the upload's temp file")
            stop_gracefully(server)
            assert server.poll() is None, "exited with an upload in flight"
            streamed.finish()
            answer = streamed.response()
        assert answer.status == 201, answer.body
        asset = answer.json()
        assert asset["checksum"] == sha256(content)
        assert server.wait(EXIT_TIMEOUT) == 0
    assert temp_and_partial_files(data_dir) == []
    [record] = catalog_assets(data_dir, CUSTOMER)
    assert record.asset_id == asset["asset_id"]
    blob = asset_blobs(data_dir)[(record.storage.bucket, record.storage.key)]
    assert sha256(blob.read_bytes()) == sha256(content)


def test_sigterm_then_client_drops_mid_upload_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    content = text_bytes(8 * MiB, 13)
    with ServerProcess(server_env(data_dir)) as server:
        streamed = StreamedUpload(server, mint_token(customer=CUSTOMER), content)
        try:
            streamed.send_content(3 * MiB)
            wait_until(lambda: largest_upload_size(data_dir) > 0, 10, "the upload's temp file")
            stop_gracefully(server)
        finally:
            streamed.abort()
        assert server.wait(EXIT_TIMEOUT) == 0
    assert temp_and_partial_files(data_dir) == []
    assert catalog_assets(data_dir, CUSTOMER) == []
    assert asset_blobs(data_dir) == {}


def test_no_new_connection_is_served_after_sigterm(tmp_path: Path) -> None:
    """While a download keeps the process in its graceful phase, a new connection is refused
    (the listener is closed at once), never left hanging."""
    data_dir = tmp_path / "data"
    with ServerProcess(server_env(data_dir)) as server:
        asset_id = upload_large(server, text_bytes(32 * MiB, 17))
        sock, first = start_slow_download(server, asset_id)
        with sock:
            stop_gracefully(server)
            wait_until(lambda: refused(server), 5, "new connections to be refused")
            assert len(read_download(sock, first)) == 32 * MiB
        assert server.wait(EXIT_TIMEOUT) == 0


def refused(server: ServerProcess) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False
