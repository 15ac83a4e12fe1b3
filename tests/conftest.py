"""Fixtures shared by every test: an engine on the embedded backends in a temp dir, a real
Hypercorn serving the app on a free 127.0.0.1 port, an HTTP client, and tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from asset_service.http import create_app
from asset_service.http.app import token_policy
from asset_service.http.auth import issue_token
from asset_service.wiring import running_engine

SECRET = "test-secret-of-sufficient-length-for-hs256-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        jwt_secret=SECRET,
        max_upload_bytes=8 * 1024 * 1024,
        cleanup_interval=3600,
        upload_idle_timeout=10,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AssetEngine]:
    async with running_engine(settings) as engine:
        yield engine


@pytest.fixture
def make_token(settings: Settings) -> Callable[..., str]:
    def make(
        user: str = "alice", customer: str = "acme", roles: tuple[str, ...] = ("editor",), ttl=600
    ) -> str:
        return issue_token(
            token_policy(settings), user=user, customer=customer, roles=list(roles), ttl=ttl
        )

    return make


@pytest.fixture
def auth(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth(user=..., customer=..., roles=(...))`` → an Authorization header."""

    def headers(**claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(**claims)}"}

    return headers


async def start_server(nursery: trio.Nursery, engine: AssetEngine, settings: Settings) -> str:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    app = create_app(engine, settings)
    binds = await nursery.start(partial(serve, app, config))
    return binds[0]


@pytest.fixture
async def base_url(engine: AssetEngine, settings: Settings, nursery: trio.Nursery) -> str:
    """A real Hypercorn on a free loopback port, serving the app over ``engine``."""
    return await start_server(nursery, engine, settings)


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def data_files(settings: Settings) -> list[str]:
    """Every blob and partial file under the data dir (what a failed request must not add)."""
    root = settings.data_dir / "blobs"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def with_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)
