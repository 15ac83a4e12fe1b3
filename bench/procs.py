"""What a server process costs, read from /proc (Linux only): CPU seconds and RSS of a process
and its children (nginx's workers), sampled while a measurement runs."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024**2
GiB = 1024**3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """Direct children, from /proc/PID/task/*/children (needs CONFIG_PROC_CHILDREN), else by
    scanning /proc for processes whose parent is ``pid``."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            except OSError:
                raise FileNotFoundError from None
            found += [int(word) for word in text.split()]
        return found
    except FileNotFoundError:
        pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    index = 0
    while index < len(pids):
        pids += children_of(pids[index])
        index += 1
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of every thread of these processes (utime + stime)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the ")": state is field 3 of stat(5); utime and stime are fields 14 and 15
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident * PAGE_SIZE
    return total


def status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Usage:
    """What one measured interval cost the server: CPU seconds and the peak RSS seen."""

    cpu_s: float
    peak_rss_mib: float
    samples: int


@dataclass
class Sampler:
    """While in a ``with`` block: the summed RSS of ``pid`` and its children every
    ``interval`` seconds (the peak is kept), and their CPU time from start to end."""

    pid: int
    interval: float = 0.02
    peak: int = 0
    samples: int = 0
    usage: Usage | None = None
    _pids: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu_start: float = 0.0

    def __enter__(self) -> Sampler:
        self._pids = process_tree(self.pid)
        self._cpu_start = cpu_seconds(self._pids)
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._sample()
        self.usage = Usage(
            cpu_s=cpu_seconds(self._pids) - self._cpu_start,
            peak_rss_mib=self.peak / MiB,
            samples=self.samples,
        )

    def _sample(self) -> None:
        self.peak = max(self.peak, rss_bytes(self._pids))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()


# --- the service as a subprocess ----------------------------------------------------------------
# Shared by every bench script; stdlib only, so it imports both as ``bench.procs`` and, from the
# scripts run as files (upload_memory.py, s3_throughput.py), as ``procs``.

ROOT = Path(__file__).resolve().parent.parent


def service_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of a bench server: none of the caller's ASSET_* settings (they would
    change what is measured), a fresh secret, and ``settings`` (``ASSET_`` + upper-cased)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSET_")}
    env.update(
        ASSET_HOST="127.0.0.1",
        ASSET_PORT=str(port),
        ASSET_DATA_DIR=str(data_dir),
        ASSET_JWT_SECRET=secrets.token_urlsafe(48),
        ASSET_LOG_LEVEL="WARNING",
    )
    env.update({f"ASSET_{name.upper()}": value for name, value in settings.items()})
    return env


def start_service(env: dict[str, str], log_path: Path, base: str) -> subprocess.Popen[bytes]:
    """``asset-service serve`` with its output in ``log_path``, once it answers /healthz."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "asset_service.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(base, process, timeout=30)
    except BaseException:
        stop_service(process)
        raise
    return process


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def service_token(env: dict[str, str], user: str = "bench", ttl: int = 7200) -> str:
    """An editor's token for customer ``user``, from the CLI with the server's secret."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "asset_service.cli", "token"),
            *("--user", user, "--customer", user, "--role", "editor", "--ttl", str(ttl)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
