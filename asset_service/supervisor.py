"""``serve --workers N``: N serving processes on one address, kept alive.

The supervisor binds the address N times with ``SO_REUSEPORT`` — one listening socket per
worker, so that the kernel spreads new connections evenly over the workers (one shared socket
hands most of them to whichever worker waits in ``accept`` last) — and starts N
``asset-service serve`` processes that each serve on their socket (Hypercorn's ``fd://`` bind),
with their own engine. It serves nothing itself, and says it listens once every worker does. A
worker that dies is started again on the same socket (with a growing pause if it keeps dying at
once) and the log says so; SIGTERM or SIGINT is passed on to every worker, which finishes its
requests in flight, and the supervisor exits once all of them have. Why a supervisor of our own
rather than Hypercorn's ``workers`` option: docs/decisions.md, "Several serving processes".
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

import trio

logger = logging.getLogger("asset_service.supervisor")

#: environment variables a worker is started with
WORKER_FD_ENV = "ASSET_WORKER_FD"
WORKER_INDEX_ENV = "ASSET_WORKER_INDEX"
#: a pipe the worker writes one byte to once it serves
WORKER_READY_FD_ENV = "ASSET_WORKER_READY_FD"
#: a worker that dies sooner than this after its start counts as failing at once
QUICK_DEATH_SECONDS = 5.0
MAX_RESTART_PAUSE = 30.0
LISTEN_BACKLOG = 1024


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address (``port`` 0: a free port, the same for all),
    inherited one by one by the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class _Worker:
    index: int
    process: trio.Process | None = None
    started_at: float = 0.0
    #: consecutive deaths soon after starting, for the restart pause
    quick_deaths: int = 0
    restarts: int = field(default=0)


class WorkerFailedToStart(Exception):
    pass


class Supervisor:
    def __init__(self, sockets: list[socket.socket], *, graceful_timeout: float) -> None:
        if not sockets:
            raise ValueError("at least one worker")
        self._sockets = sockets
        self._workers = [_Worker(index) for index in range(len(sockets))]
        self._graceful_timeout = graceful_timeout
        self._stopping = False

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "asset_service.cli", "serve"]

    async def _start(self, worker: _Worker) -> tuple[trio.Process, bool]:
        """Start the worker and return once it serves (``True``) or has died trying."""
        sock = self._sockets[worker.index]
        ready_read, ready_write = os.pipe()
        try:
            env = dict(os.environ)
            env[WORKER_FD_ENV] = str(sock.fileno())
            env[WORKER_INDEX_ENV] = str(worker.index)
            env[WORKER_READY_FD_ENV] = str(ready_write)
            process = await trio.lowlevel.open_process(
                self._command(), env=env, pass_fds=(sock.fileno(), ready_write)
            )
            os.close(ready_write)
            ready_write = -1
            worker.process = process
            worker.started_at = time.monotonic()
            logger.info("worker %d started (pid %d)", worker.index, process.pid)
            # One byte once it serves; end of file if it dies first.
            await trio.lowlevel.wait_readable(ready_read)
            serving = bool(os.read(ready_read, 1))
            if not serving:
                logger.error("worker %d (pid %d) died before serving", worker.index, process.pid)
        finally:
            os.close(ready_read)
            if ready_write >= 0:
                os.close(ready_write)
        return process, serving

    async def _keep_alive(
        self, worker: _Worker, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run one worker slot: start it, and start it again whenever it dies unasked."""
        first = True
        while not self._stopping:
            process, serving = await self._start(worker)
            if first:
                first = False
                if not serving:
                    code = await process.wait()
                    raise WorkerFailedToStart(
                        f"worker {worker.index} exited with {_describe_exit(code)} "
                        "before serving: see the log above"
                    )
                task_status.started()
            code = await process.wait()
            if self._stopping:
                logger.info("worker %d (pid %d) stopped (exit %s)", worker.index, process.pid, code)
                return
            lived = time.monotonic() - worker.started_at
            worker.quick_deaths = worker.quick_deaths + 1 if lived < QUICK_DEATH_SECONDS else 0
            pause = min(MAX_RESTART_PAUSE, 0.5 * 2 ** max(0, worker.quick_deaths - 1))
            pause = pause if worker.quick_deaths else 0.0
            worker.restarts += 1
            logger.warning(
                "worker %d (pid %d) exited with %s after %.1f s: restarting%s",
                worker.index,
                process.pid,
                _describe_exit(code),
                lived,
                f" in {pause:.1f} s" if pause else "",
            )
            await trio.sleep(pause)

    async def _forward_stop(self, signum: int) -> None:
        self._stopping = True
        for worker in self._workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        # The workers drain their requests within graceful_timeout; a worker still there well
        # after that is stuck, and is killed so that the supervisor can exit.
        with trio.move_on_after(self._graceful_timeout + 10):
            for worker in self._workers:
                if worker.process is not None:
                    await worker.process.wait()
            return
        for worker in self._workers:
            if worker.process is not None and worker.process.returncode is None:
                logger.error("worker %d did not stop in time: killing it", worker.index)
                worker.process.kill()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                async with trio.open_nursery() as starting:
                    for worker in self._workers:
                        starting.start_soon(nursery.start, self._keep_alive, worker)
                task_status.started()
                async for signum in signals:
                    logger.info(
                        "received %s: stopping %d workers gracefully",
                        signal.Signals(signum).name,
                        len(self._workers),
                    )
                    await self._forward_stop(signum)
                    break
                # Every slot returns once its process is gone; nothing restarts while stopping.


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def worker_socket_fd() -> int | None:
    """The inherited listening socket, when this process is a worker of a supervisor."""
    raw = os.environ.get(WORKER_FD_ENV)
    return int(raw) if raw else None


def tell_supervisor_ready() -> None:
    """A worker serves: the supervisor may say the address listens."""
    raw = os.environ.pop(WORKER_READY_FD_ENV, None)
    if raw:
        fd = int(raw)
        try:
            os.write(fd, b"1")
        except BrokenPipeError:
            pass  # the supervisor is gone: this worker learns it from its pidfd and stops
        finally:
            os.close(fd)


def worker_index() -> int | None:
    raw = os.environ.get(WORKER_INDEX_ENV)
    return int(raw) if raw else None
