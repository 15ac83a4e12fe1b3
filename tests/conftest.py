"""Fixtures shared by every test: an engine on the embedded backends in a temp dir, a real
Hypercorn serving the app on a free 127.0.0.1 port, an HTTP client, and tokens.

The HTTP tests run on the filesystem blob store; ``--api-blob-stores=file,s3`` (or
``ASSET_TEST_API_BLOB_STORES``) runs every test that uses ``settings`` once per store named:
``file``, ``s3`` (the session's moto_server) or ``minio`` (the real server of
``ASSET_TEST_S3_URL``). ``make test`` runs them on ``file,s3``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
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
from tests.backends import (
    REAL_S3_URL,
    S3_URL_VAR,
    BucketJanitor,
    moto_s3_url,
    new_bucket_prefix,
    running_moto,
    running_nx,
    s3_contents,
    start_moto,
    with_bucket_prefix,
)

SECRET = "test-secret-of-sufficient-length-for-hs256-0123456789"


@pytest.fixture(scope="session")
def moto_url(
    tmp_path_factory: pytest.TempPathFactory, bucket_janitor: BucketJanitor
) -> Iterator[str]:
    """A moto_server for the session (``http://127.0.0.1:PORT``), started on first use unless
    ``ASSET_TEST_MOTO_URL`` names one (see ``tests/backends.py``)."""
    with running_moto(tmp_path_factory.mktemp("moto")) as url:
        yield url
        bucket_janitor.wait()  # its buckets, before the server goes


@pytest.fixture(scope="session")
def bucket_janitor() -> Iterator[BucketJanitor]:
    """Drops finished tests' buckets in the background (see ``tests/backends.py``)."""
    janitor = BucketJanitor()
    try:
        yield janitor
    finally:
        janitor.close()


@pytest.fixture(scope="session")
def moto_checking_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto_server of its own that checks credentials (moto accepts any by default): with no
    IAM user created, every access key is unknown to it."""
    server, url = start_moto(
        tmp_path_factory.mktemp("moto-auth"), env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    )
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An nx-27017 for the session (``mongodb://127.0.0.1:PORT``), started on first use unless
    ``ASSET_TEST_NX_URL`` names one."""
    with running_nx(tmp_path_factory.mktemp("nx")) as url:
        yield url


API_BLOB_STORES = ("file", "s3", "minio")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--api-blob-stores",
        default=os.environ.get("ASSET_TEST_API_BLOB_STORES", "file"),
        help="comma-separated blob stores the HTTP tests run on: file (default), s3 (moto), "
        f"minio ({S3_URL_VAR})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "file_store_only: run on the filesystem blob store only, whatever --api-blob-stores says "
        "(for tests of the HTTP layer alone whose time is better spent once)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "api_blob_store" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("file_store_only"):
        return
    option = metafunc.config.getoption("api_blob_stores")
    stores = [name.strip() for name in option.split(",") if name.strip()]
    unknown = set(stores) - set(API_BLOB_STORES)
    if unknown or not stores:
        raise pytest.UsageError(f"--api-blob-stores: unknown {sorted(unknown)}")
    if stores != ["file"]:
        metafunc.parametrize("api_blob_store", stores, indirect=True)


@pytest.fixture
def api_blob_store(request: pytest.FixtureRequest) -> str:
    """The blob store the HTTP tests run on (see ``--api-blob-stores``)."""
    return getattr(request, "param", "file")


@pytest.fixture
def settings(
    tmp_path: Path, api_blob_store: str, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    blob_store = ""
    janitor: BucketJanitor | None = None
    if api_blob_store != "file":
        janitor = request.getfixturevalue("bucket_janitor")
    if api_blob_store == "s3":
        blob_store = moto_s3_url(request.getfixturevalue("moto_url"), new_bucket_prefix())
    elif api_blob_store == "minio":
        if not REAL_S3_URL:
            pytest.skip(f"no real S3 server: set {S3_URL_VAR}")
        blob_store = with_bucket_prefix(REAL_S3_URL, new_bucket_prefix())
    yield Settings(
        data_dir=tmp_path / "data",
        blob_store=blob_store,
        jwt_secret=SECRET,
        max_upload_bytes=8 * 1024 * 1024,
        cleanup_interval=3600,
        upload_idle_timeout=10,
    )
    if janitor is not None:
        janitor.drop(blob_store)


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


async def start_server(
    nursery: trio.Nursery,
    engine: AssetEngine,
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
) -> str:
    """``clock``: what the app signs and checks links against (``create_app``)."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    app = create_app(engine, settings, clock=clock)
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
    """Every blob and partial file under the data dir (what a failed request must not add):
    ``bucket/key``, and ``.partial/…`` for writes not completed. On an S3 store: its objects
    and unfinished multipart uploads, named the same way."""
    if settings.blob_store.startswith("s3://"):
        return s3_contents(settings.blob_store)
    root = settings.data_dir / "blobs"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def with_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)
