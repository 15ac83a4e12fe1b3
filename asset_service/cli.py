"""``asset-service serve | token | cleanup | import``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import trio

from .config import ConfigError, Settings, load_settings

logger = logging.getLogger("asset_service")

SECRET_FILE = "jwt-secret"
DEV_TOKEN_TTL = 24 * 3600


def _secret_file(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def with_secret(settings: Settings, *, create: bool) -> Settings:
    """``ASSET_JWT_SECRET`` if set; otherwise the one kept in the data dir, created on first
    use when ``create`` (development: ``make run``). Not needed when only public-key
    algorithms are allowed and ``ASSET_URL_SIGNING_KEY`` signs the download links."""
    if settings.jwt_secret:
        return settings
    if settings.url_signing_key and not any(
        alg.strip().upper().startswith("HS") for alg in settings.jwt_algorithms
    ):
        return settings
    path = _secret_file(settings)
    if path.exists():
        return replace(settings, jwt_secret=path.read_text().strip())
    if not create:
        raise ConfigError(
            f"no ASSET_JWT_SECRET and no {path}: set ASSET_JWT_SECRET to the server's "
            "secret, or ASSET_DATA_DIR to the data directory whose jwt-secret the server "
            "uses (`make run` creates one in ./data)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return replace(settings, jwt_secret=secret)


# --- serve -------------------------------------------------------------------------------


async def _watch_signals(stop: trio.Event) -> None:
    # The receiver stays open until the server has stopped: under a supervisor a worker gets
    # the signal twice (from the process group and from the supervisor), and a second one
    # arriving after the receiver closed would kill it without draining its requests.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if not stop.is_set():
                logger.info("received %s: shutting down gracefully", signal.Signals(signum).name)
                stop.set()


async def _watch_supervisor(stop: trio.Event, supervisor_pid: int) -> None:
    # A supervisor that is SIGKILLed cannot pass anything on: its workers learn of its death
    # from a pidfd (readable once the process has exited) and stop as if told to.
    pidfd = os.pidfd_open(supervisor_pid)
    try:
        if os.getppid() == supervisor_pid:
            await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)
    logger.warning("the supervisor (pid %d) is gone: shutting down gracefully", supervisor_pid)
    stop.set()


def _dev_token(settings: Settings) -> str | None:
    """The development token (``serve --dev``), if this configuration can sign one."""
    from .http.app import token_policy
    from .http.auth import issue_token

    tokens = token_policy(settings)
    if not tokens.signing_algorithm:
        return None
    return issue_token(tokens, user="dev", customer="dev", roles=["admin"], ttl=DEV_TOKEN_TTL)


def _print_banner(
    settings: Settings, base: str, *, dev: bool, token: str | None = None, offered: bool = False
) -> None:
    print(f"Asset Service listening on {base}", flush=True)
    if dev and token is None:
        token = _dev_token(settings)
    if dev and token is not None:
        where = " (the console at / offers it)" if offered else ""
        print(
            f"\nDevelopment token (customer 'dev', role admin, valid 24 h){where}:\n"
            f"  export TOKEN={token}\n"
            f"Console: {base}/\n"
            "Try:\n"
            f'  curl -s -H "Authorization: Bearer $TOKEN" -F file=@README.md '
            f"{base}/api/assets/upload\n",
            flush=True,
        )


async def serve(settings: Settings, *, dev: bool) -> None:
    """One serving process: the engine and Hypercorn on the configured address, or on the
    socket a supervisor handed down (``supervisor.worker_socket_fd``)."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    from .http import create_app
    from .http.app import token_policy
    from .http.routes.console import dev_token_blueprint, is_loopback
    from .supervisor import tell_supervisor_ready, worker_socket_fd
    from .wiring import running_engine

    # A token configuration that cannot work stops here, before the engine starts.
    token_policy(settings)
    inherited_fd = worker_socket_fd()
    config = Config()
    config.bind = (
        [f"fd://{inherited_fd}"]
        if inherited_fd is not None
        else [f"{settings.host}:{settings.port}"]
    )
    config.graceful_timeout = settings.graceful_timeout
    # Hypercorn's loggers go through the root logger set up in ``main`` (one format, no
    # duplicate lines); access logs only when debugging.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = (
        logging.getLogger("hypercorn.access") if settings.log_level.upper() == "DEBUG" else None
    )
    stop = trio.Event()
    # Hypercorn returns once ``stop`` is set and the requests in flight have finished
    # (graceful_timeout); then the signal watcher is cancelled and the engine stops.
    async with running_engine(settings) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, stop)
        if inherited_fd is not None:
            nursery.start_soon(_watch_supervisor, stop, os.getppid())
        app = create_app(engine, settings)
        # The console may fetch the development token only from a single server that no other
        # machine can reach (workers each have an app of their own: there, paste it).
        token = _dev_token(settings) if dev and inherited_fd is None else None
        offered = token is not None and is_loopback(settings.host)
        if offered:
            app.register_blueprint(dev_token_blueprint(token))
        async with trio.open_nursery() as server:
            binds = await server.start(
                partial(hypercorn_serve, app, config, shutdown_trigger=stop.wait)
            )
            if inherited_fd is None:
                base = binds[0] if binds else f"http://{settings.host}:{settings.port}"
                _print_banner(settings, base, dev=dev, token=token, offered=offered)
            else:
                logger.info("serving on the supervisor's socket")
                tell_supervisor_ready()
        nursery.cancel_scope.cancel()


async def supervise(settings: Settings, workers: int, *, dev: bool) -> None:
    """``serve`` with several workers: bind once, start the workers, keep them alive."""
    from .http.app import token_policy
    from .supervisor import Supervisor, WorkerFailedToStart, address_of, bind_sockets

    token_policy(settings)  # a configuration that cannot work stops before any worker starts
    try:
        sockets = bind_sockets(settings.host, settings.port, workers)
    except OSError as error:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {error}") from None
    failure: BaseException | None = None
    try:
        supervisor = Supervisor(sockets, graceful_timeout=settings.graceful_timeout)
        async with trio.open_nursery() as nursery:
            logger.info("starting %d workers", workers)
            await nursery.start(supervisor.run)
            _print_banner(settings, address_of(sockets[0]), dev=dev)
    except* WorkerFailedToStart as failed:
        failure = failed
        while isinstance(failure, BaseExceptionGroup):
            failure = failure.exceptions[0]
    finally:
        for sock in sockets:
            sock.close()
    if failure is not None:
        # e.g. a worker that cannot open the catalog: the service cannot start
        raise ConfigError(str(failure))


# --- cleanup -----------------------------------------------------------------------------


async def cleanup_once(settings: Settings) -> dict[str, object]:
    from .wiring import running_engine

    async with running_engine(settings, scheduled_cleanup=False) as engine:
        report = await engine.run_cleanup(wait_for_lease=True)
    return asdict(report)


# --- entry point -------------------------------------------------------------------------


def _worker_count(raw: str) -> int:
    from .config import parse_workers

    try:
        return parse_workers(raw)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asset-service", description="Asset Service: files with searchable metadata."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the HTTP API (Hypercorn, Trio)")
    serve_cmd.add_argument(
        "--dev",
        action="store_true",
        help="create a JWT secret in the data dir if none is set, print a development token",
    )
    serve_cmd.add_argument(
        "--workers",
        type=_worker_count,
        default=None,
        help="serving processes on the one address (default: ASSET_WORKERS, 1; 'auto': one "
        "per core)",
    )
    token_cmd = commands.add_parser("token", help="print a signed JWT")
    token_cmd.add_argument("--user", required=True)
    token_cmd.add_argument("--customer", required=True)
    token_cmd.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["viewer", "editor", "admin", "service"],
        help="repeat for several roles",
    )
    token_cmd.add_argument("--ttl", type=float, default=3600.0, help="seconds (default 3600)")
    cleanup_cmd = commands.add_parser("cleanup", help="run a cleanup pass")
    cleanup_cmd.add_argument("--once", action="store_true", required=True)
    import_cmd = commands.add_parser(
        "import", help="import existing files (a migration; files already there are skipped)"
    )
    import_cmd.add_argument("path", type=Path, help="a file, or a directory walked recursively")
    import_cmd.add_argument("--type", required=True, dest="asset_type", help="e.g. audio")
    import_cmd.add_argument("--customer", required=True)
    import_cmd.add_argument("--user", required=True, help="the owner of the new assets")
    import_cmd.add_argument("--folder", default="/", help="target folder (default /)")
    import_cmd.add_argument(
        "--keep-tree", action="store_true", help="mirror sub-directories as sub-folders"
    )
    import_cmd.add_argument(
        "--json", action="store_true", help="print the summary as JSON on stdout"
    )
    previews_cmd = commands.add_parser(
        "previews", help="make the previews missing for assets stored before previews existed"
    )
    previews_cmd.add_argument("--missing", action="store_true", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        from .supervisor import worker_index

        index = worker_index()
        who = "" if index is None else f"worker {index} "
        logging.basicConfig(
            level=settings.log_level.upper(),
            format=f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s",
        )
        if args.command == "serve":
            settings = with_secret(settings, create=args.dev)
            workers = settings.workers if args.workers is None else args.workers
            if workers > 1 and index is None:
                trio.run(partial(supervise, settings, workers, dev=args.dev))
            else:
                from .engine.memory import unpool_large_buffers

                unpool_large_buffers()  # transfer buffers back to the system once freed
                trio.run(partial(serve, settings, dev=args.dev))
        elif args.command == "token":
            from .engine.fields import is_customer_id
            from .http.app import token_policy
            from .http.auth import issue_token

            if args.ttl <= 0:
                raise ConfigError("--ttl must be positive")
            if args.ttl > settings.jwt_max_lifetime:
                raise ConfigError(
                    f"--ttl may be at most ASSET_JWT_MAX_LIFETIME ({settings.jwt_max_lifetime:g} s)"
                )
            if not is_customer_id(args.customer):
                raise ConfigError(
                    "--customer must be 1 to 64 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit"
                )
            settings = with_secret(settings, create=False)
            print(
                issue_token(
                    token_policy(settings),
                    user=args.user,
                    customer=args.customer,
                    roles=args.role,
                    ttl=args.ttl,
                )
            )
        elif args.command == "cleanup":
            report = trio.run(cleanup_once, settings)
            print(json.dumps(report))
        elif args.command == "previews":
            from .preview_backfill import run_missing

            return run_missing(settings)
        elif args.command == "import":
            from .importer import run_import

            return run_import(
                settings,
                path=args.path,
                asset_type=args.asset_type,
                customer=args.customer,
                user=args.user,
                folder=args.folder,
                keep_tree=args.keep_tree,
                as_json=args.json,
            )
    except ConfigError as error:
        print(f"asset-service: configuration error: {error}", file=sys.stderr)
        return 2
    except ConnectionError as error:
        print(f"asset-service: backend unavailable: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
