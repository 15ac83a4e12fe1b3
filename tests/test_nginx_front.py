"""``deploy/nginx.conf``, the front of docker-compose.yml, run by the nginx installed here: it
parses, and in front of a real service on the filesystem store with
``ASSET_ACCEL_REDIRECT_PREFIX`` it streams an upload through, lets the service's own 413
through for one too large, sends a download and a range from the X-Accel-Redirect location, and
carries the events WebSocket. Only the Docker names are replaced: the upstream by the test
server's port, the listening port by a free one, the data volume by the test's data dir."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from server_process import ServerProcess, mint_token, server_env, text_bytes, wait_until
from trio_websocket import open_websocket_url

from tests.backends import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx.conf"
ACCEL_PREFIX = "/_asset_blobs/"
MAX_UPLOAD = 4 * 1024 * 1024
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(path)), None
)

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)"
)

#: the main context the nginx image gives its conf.d files, with every path under ``work``
MAIN = """\
daemon off;
worker_processes 1;
{user}
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    include {work}/default.conf;
}}
"""


def local_config(*, upstream: str, listen: str, data_dir: Path) -> str:
    """The repository's config with the Docker names replaced, each exactly once."""
    text = CONFIG.read_text()
    for docker, here in [
        ("server asset-service:8000 resolve;", f"server {upstream};"),
        ("listen 8000;", f"listen {listen};"),
        ("alias /var/lib/asset-service/blobs/;", f"alias {data_dir}/blobs/;"),
    ]:
        assert text.count(docker) == 1, f"deploy/nginx.conf no longer says {docker!r}"
        text = text.replace(docker, here)
    return text


def write_nginx(work: Path, site: str) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "default.conf").write_text(site)
    # As root the workers would switch to "nobody", who can't read our temp dirs.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    main = work / "nginx.conf"
    main.write_text(MAIN.format(user=user, work=work))
    return main


def nginx_command(work: Path, main: Path, *extra: str) -> list[str]:
    assert NGINX is not None
    return [NGINX, "-p", str(work), "-c", str(main), "-e", str(work / "error.log"), *extra]


def test_the_config_parses(tmp_path: Path) -> None:
    site = local_config(upstream="127.0.0.1:9", listen="127.0.0.1:9", data_dir=tmp_path)
    main = write_nginx(tmp_path / "nginx", site)
    checked = subprocess.run(
        nginx_command(tmp_path / "nginx", main, "-t", "-q"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr.decode()


@pytest.fixture
def front(tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    """nginx with the repository's config in front of a real service; its base URL."""
    data_dir = tmp_path / "data"
    env = server_env(
        data_dir, accel_redirect_prefix=ACCEL_PREFIX, max_upload_bytes=MAX_UPLOAD, previews="off"
    )
    with ServerProcess(env) as service:
        port = free_port()
        site = local_config(
            upstream=f"127.0.0.1:{service.port}", listen=f"127.0.0.1:{port}", data_dir=data_dir
        )
        work = tmp_path / "nginx"
        main = write_nginx(work, site)
        nginx = subprocess.Popen(
            nginx_command(work, main),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "nginx.stderr").open("wb"),
        )
        try:
            base = f"http://127.0.0.1:{port}"

            def health() -> bool:
                assert nginx.poll() is None, (tmp_path / "nginx.stderr").read_text()
                try:
                    return httpx.get(f"{base}/nginx-health", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(health, 20, "nginx to serve")
            yield base, service
        finally:
            nginx.terminate()
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(customer='acme', roles=['admin'])}"}


def upload(base: str, body: bytes, name: str = "notes.txt") -> httpx.Response:
    return httpx.post(
        f"{base}/api/assets/upload",
        headers=auth(),
        files={"file": (name, body, "text/plain")},
        timeout=60,
    )


@pytest.mark.slow
def test_in_front_of_the_service(front: tuple[str, ServerProcess]) -> None:
    base, _service = front
    # Larger than nginx's client body buffer: it is streamed on, not refused or spooled.
    body = text_bytes(3 * 1024 * 1024, seed=7)
    created = upload(base, body)
    assert created.status_code == 201, created.text
    asset = created.json()
    assert asset["checksum"] == hashlib.sha256(body).hexdigest()

    # Too large: the service's problem document, not an nginx page.
    refused = upload(base, text_bytes(MAX_UPLOAD + 1024, seed=8))
    assert refused.status_code == 413
    assert refused.headers["Content-Type"].startswith("application/problem+json")

    # The service answers with X-Accel-Redirect and no body: the bytes come from the internal
    # location (a wrong alias would be a 404), with the service's headers.
    url = f"{base}/api/assets/{asset['asset_id']}/download"
    whole = httpx.get(url, headers=auth(), timeout=30)
    assert whole.status_code == 200
    assert whole.content == body
    assert "X-Accel-Redirect" not in whole.headers
    assert whole.headers["ETag"] == f'"{asset["checksum"]}"'
    assert whole.headers["X-Content-Type-Options"] == "nosniff"
    assert whole.headers["Content-Disposition"].startswith("attachment")
    ranged = httpx.get(url, headers={**auth(), "Range": "bytes=100-199"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == body[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    # The internal location cannot be asked for directly.
    assert httpx.get(f"{base}{ACCEL_PREFIX}document-assets/x", timeout=10).status_code == 404
    assert httpx.get(url, timeout=10).status_code == 401

    # The events WebSocket through nginx: an upload made meanwhile is announced.
    async def announced() -> dict:
        token = auth()["Authorization"].removeprefix("Bearer ")
        ws_url = base.replace("http://", "ws://") + f"/api/events?token={token}"
        with trio.fail_after(30):
            async with open_websocket_url(ws_url) as socket:
                second = await trio.to_thread.run_sync(upload, base, b"second file\n", "b.txt")
                assert second.status_code == 201
                while True:
                    event = json.loads(await socket.get_message())
                    if event["event"] == "asset.created":
                        assert event["data"]["asset_id"] == second.json()["asset_id"]
                        return event

    assert trio.run(announced)["event"] == "asset.created"
