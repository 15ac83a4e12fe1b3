"""The servers a bench run starts on 127.0.0.1 and always stops: the service itself, nginx (plain,
serving files with sendfile; or in front of the service, answering its ``X-Accel-Redirect``)
and the FastAPI + uvicorn reference. Each runs as a child process on a free port with its
files in a temp dir, and is stopped by its pid (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import pwd
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .client import Connection, HttpError
from .procs import GiB, free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
#: the internal location ``X-Accel-Redirect`` points at (ASSET_ACCEL_REDIRECT_PREFIX)
ACCEL_PREFIX = "/_asset_blobs/"


def wait_http(base_url: str, path: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until ``GET path`` answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with Connection(base_url, timeout=2) as connection:
                response = connection.request("GET", path, {"Connection": "close"})
            if response.status == 200:
                return
            last = f"status {response.status}"
        except (OSError, HttpError) as error:
            last = str(error)
        time.sleep(0.1)
    raise RuntimeError(f"{base_url}{path} did not answer within {timeout:.0f} s ({last})")


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Server:
    label = "server"
    base_url = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.label} is not running"
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)

    def serving(self, port: int, health_path: str, timeout: float):  # type: ignore[no-untyped-def]
        """Wait (bounded) until the started process answers ``health_path``; stop it if not."""
        self.base_url = f"http://127.0.0.1:{port}"
        try:
            wait_http(self.base_url, health_path, self.process, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the service -----------------------------------------------------------------------------


class OurServer(Server):
    """``python -m asset_service.cli serve`` on an ephemeral port (it prints where it
    listens)."""

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *,
        secret: str,
        label: str = "ours",
        extra_env: dict[str, str] | None = None,
        max_upload: int = 4 * GiB,
        cwd: Path = ROOT,
    ) -> None:
        self.label = label
        self.cwd = cwd
        self.data_dir = data_dir
        self.log = log
        self.secret = secret
        self.extra_env = extra_env or {}
        self.max_upload = max_upload
        self._log_handle = None

    def env(self) -> dict[str, str]:
        # The caller's ASSET_* settings would change what is measured: start from none.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSET_")}
        env.update(
            ASSET_HOST="127.0.0.1",
            ASSET_PORT="0",
            ASSET_DATA_DIR=str(self.data_dir),
            ASSET_JWT_SECRET=self.secret,
            ASSET_MAX_UPLOAD_BYTES=str(self.max_upload),
            ASSET_LOG_LEVEL="WARNING",
            ASSET_PLUGINS_CONFIG=str(self.cwd / "plugins.toml"),
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> OurServer:
        lines: queue.Queue[str | None] = queue.Queue()
        self._log_handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "asset_service.cli", "serve"],
            cwd=self.cwd,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        log_handle = self._log_handle

        def pump(stream) -> None:  # type: ignore[no-untyped-def]
            # Drains the pipe for the life of the process (a full pipe would block it).
            try:
                for raw in iter(stream.readline, b""):
                    log_handle.write(raw)
                    log_handle.flush()
                    lines.put(raw.decode(errors="replace"))
            finally:
                lines.put(None)

        threading.Thread(target=pump, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError(f"{self.label} did not start within {timeout:.0f} s")
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self.stop()
                raise RuntimeError(f"{self.label} exited before listening: see {self.log}")
            if "listening on " in line:
                self.base_url = line.rsplit("listening on ", 1)[1].strip()
                return self

    def stop(self) -> None:
        super().stop()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def token(self, *, user: str = "bench", customer: str = "bench", role: str = "editor") -> str:
        from asset_service.config import Settings
        from asset_service.http.app import token_policy
        from asset_service.http.auth import issue_token

        policy = token_policy(Settings(jwt_secret=self.secret))
        return issue_token(policy, user=user, customer=customer, roles=[role], ttl=6 * 3600)


def new_secret() -> str:
    return secrets.token_urlsafe(48)


# --- nginx -------------------------------------------------------------------------------------


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_PATHS if os.access(path, os.X_OK)), None)


def ensure_nginx(log: list[str]) -> str | None:
    """nginx's path; when it is missing and we are root on Debian, ``apt-get install nginx``
    first (after an ``apt-get update`` if the first try fails). ``None`` if there is none."""
    found = find_nginx()
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        if not found:
            log.append("nginx is not installed (and this is not root with apt-get): skipped")
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"]
    print("installing nginx (Debian) for the reference measurements", flush=True)
    for attempt in range(2):
        if attempt == 1:
            subprocess.run(
                ["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300, check=False
            )
        done = subprocess.run(install, env=env, capture_output=True, timeout=600, check=False)
        if done.returncode == 0 and (found := find_nginx()):
            return found
    log.append("nginx could not be installed with apt-get: skipped")
    return None


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user}
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    default_type application/octet-stream;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
{http}
    server {{
        listen 127.0.0.1:{port};
{server}
    }}
}}
"""


def accel_locations(app_port: int, blob_root: Path, prefix: str = ACCEL_PREFIX) -> tuple[str, str]:
    """The ``http`` and ``server`` blocks of a front nginx for the service with
    ``ASSET_ACCEL_REDIRECT_PREFIX={prefix}`` (the same text is in BENCHMARKS.md)."""
    http = f"""\
    upstream asset_service {{
        server 127.0.0.1:{app_port};
        keepalive 32;
    }}"""
    server = f"""\
        location = /nginx-health {{ return 200 "ok"; }}
        client_max_body_size 0;
        location / {{
            proxy_pass http://asset_service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
        # The service answers a download with X-Accel-Redirect: {prefix}<bucket>/<key>
        # once it has checked the token, the asset and If-None-Match/If-Modified-Since;
        # nginx then sends the file (sendfile) and applies Range and If-Range.
        location {prefix} {{
            internal;
            alias {blob_root}/;
            etag off;
            if_modified_since off;
            add_header ETag $upstream_http_etag;
            add_header Last-Modified $upstream_http_last_modified;
            add_header X-Content-Type-Options $upstream_http_x_content_type_options;
            add_header Content-Security-Policy $upstream_http_content_security_policy;
        }}"""
    return http, server


class Nginx(Server):
    """nginx with its own config, pid file and temp dirs under ``work``, in the foreground
    (``daemon off``) so that the child we start is the master."""

    def __init__(
        self,
        binary: str,
        work: Path,
        *,
        label: str = "nginx",
        server_block: str,
        http_block: str = "",
        workers: str = "auto",
    ) -> None:
        self.binary = binary
        self.work = work
        self.label = label
        self.server_block = server_block
        self.http_block = http_block
        self.workers = workers

    def start(self, timeout: float = 30.0) -> Nginx:
        self.work.mkdir(parents=True, exist_ok=True)
        port = free_port()
        # As root the workers would switch to "nobody", who can't read our temp dirs.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        conf = self.work / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                workers=self.workers,
                user=user,
                work=self.work,
                port=port,
                http=self.http_block,
                server=self.server_block,
            )
        )
        self.process = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.work),
                "-c",
                str(conf),
                "-e",
                str(self.work / "error.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.work / "stderr.log").open("wb"),
        )
        return self.serving(port, "/nginx-health", timeout)

    def stop(self) -> None:
        # SIGTERM is nginx's fast shutdown; the master stops its workers and removes its pid.
        super().stop()


class AccelFront(Server):
    """The production shape of a download: the service with ``ASSET_ACCEL_REDIRECT_PREFIX``
    behind a front nginx (``accel_locations``) that proxies to it and sends the file the
    service's ``X-Accel-Redirect`` names, from the filesystem store's root, with sendfile.
    ``base_url`` and ``pid`` are nginx's (where clients go); ``app`` is the service."""

    def __init__(
        self,
        binary: str,
        app: OurServer,
        work: Path,
        *,
        label: str = "ours via nginx (X-Accel)",
        workers: str = "auto",
        prefix: str = ACCEL_PREFIX,
    ) -> None:
        self.label = label
        self.prefix = prefix
        # The prefix nginx serves and the one the service answers with are one setting.
        app.extra_env = {**app.extra_env, "ASSET_ACCEL_REDIRECT_PREFIX": prefix}
        self.app = app
        self.front = Nginx(binary, work, label=f"{label}: nginx", server_block="", workers=workers)

    def start(self, timeout: float = 60.0) -> AccelFront:
        self.app.start(timeout)
        try:
            port = int(self.app.base_url.rsplit(":", 1)[1])
            blob_root = (self.app.data_dir / "blobs").resolve()  # the service's default store
            http, server = accel_locations(port, blob_root, self.prefix)
            self.front.http_block, self.front.server_block = http, server
            self.front.start(timeout)
        except BaseException:
            self.app.stop()
            raise
        self.base_url, self.process = self.front.base_url, self.front.process
        return self

    def stop(self) -> None:
        try:
            self.front.stop()
        finally:
            self.app.stop()


def static_server_block(files: Path) -> str:
    return f"""\
        location = /nginx-health {{ return 200 "ok"; }}
        location /files/ {{
            alias {files}/;
        }}"""


# --- FastAPI + uvicorn ---------------------------------------------------------------------------


class FastAPIReference(Server):
    label = "fastapi"

    def __init__(self, files: Path, store: Path, log: Path, *, workers: int = 1) -> None:
        self.files = files
        self.store = store
        self.log = log
        self.workers = workers

    def start(self, timeout: float = 60.0) -> FastAPIReference:
        port = free_port()
        env = {
            **os.environ,
            "BENCH_REF_FILES": str(self.files),
            "BENCH_REF_STORE": str(self.store),
        }
        self.store.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "bench.reference_app:app"),
                    *("--host", "127.0.0.1", "--port", str(port)),
                    *("--log-level", "warning", "--no-access-log"),
                    *("--workers", str(self.workers)),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.serving(port, "/healthz", timeout)
