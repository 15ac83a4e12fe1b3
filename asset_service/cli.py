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
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logger.info("received %s: shutting down gracefully", signal.Signals(signum).name)
            stop.set()
            return


async def serve(settings: Settings, *, dev: bool) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    from .http import create_app
    from .http.app import token_policy
    from .http.auth import issue_token
    from .wiring import running_engine

    # A token configuration that cannot work stops here, before the engine starts.
    tokens = token_policy(settings)
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.graceful_timeout = settings.graceful_timeout
    # Hypercorn's loggers go through the root logger set up in ``main`` (one format, no
    # duplicate lines); access logs only when debugging.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = (
        logging.getLogger("hypercorn.access") if settings.log_level.upper() == "DEBUG" else None
    )
    stop = trio.Event()
    # The nursery ends once the signal watcher has set ``stop`` and Hypercorn has finished the
    # requests in flight (graceful_timeout); then the engine stops.
    async with running_engine(settings) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, stop)
        app = create_app(engine, settings)
        binds = await nursery.start(
            partial(hypercorn_serve, app, config, shutdown_trigger=stop.wait)
        )
        base = binds[0] if binds else f"http://{settings.host}:{settings.port}"
        print(f"Asset Service listening on {base}", flush=True)
        if dev and tokens.signing_algorithm:
            token = issue_token(
                tokens,
                user="dev",
                customer="dev",
                roles=["admin"],
                ttl=DEV_TOKEN_TTL,
            )
            print(
                "\nDevelopment token (customer 'dev', role admin, valid 24 h):\n"
                f"  export TOKEN={token}\n"
                "Try:\n"
                f'  curl -s -H "Authorization: Bearer $TOKEN" -F file=@README.md '
                f"{base}/api/assets/upload\n",
                flush=True,
            )


# --- cleanup -----------------------------------------------------------------------------


async def cleanup_once(settings: Settings) -> dict[str, object]:
    from .wiring import running_engine

    async with running_engine(settings, scheduled_cleanup=False) as engine:
        report = await engine.run_cleanup(wait_for_lease=True)
    return asdict(report)


# --- entry point -------------------------------------------------------------------------


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if args.command == "serve":
            settings = with_secret(settings, create=args.dev)
            trio.run(partial(serve, settings, dev=args.dev))
        elif args.command == "token":
            from .http.app import token_policy
            from .http.auth import issue_token

            if args.ttl <= 0:
                raise ConfigError("--ttl must be positive")
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
