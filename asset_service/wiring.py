"""The composition root: backends chosen by URL, the inspector, the engine and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from .config import ConfigError, Settings
from .engine import AssetEngine, BlobStore, Catalog, ContentInspector, open_engine
from .engine.adapters.filesystem import FilesystemBlobStore
from .engine.adapters.sqlite import SqliteCatalog


def _local_path(url: str, scheme: str) -> Path:
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise ConfigError(f"{url}: a {scheme} URL names a local path, e.g. {scheme}:///var/lib")
    path = unquote(parsed.path)
    if not path:
        raise ConfigError(f"{url}: no path")
    return Path(path)


def blob_store_from_url(url: str) -> BlobStore:
    scheme = urlparse(url).scheme
    if scheme == "file":
        return FilesystemBlobStore(_local_path(url, "file"))
    if scheme in ("s3", "minio"):
        from .engine.adapters.s3 import MinioBlobStore

        try:
            return MinioBlobStore.from_url(url)
        except ValueError as error:
            raise ConfigError(f"ASSET_BLOB_STORE: {error}") from None
    raise ConfigError(f"ASSET_BLOB_STORE: unknown scheme {scheme!r} (file:// or s3://)")


def catalog_from_url(url: str) -> Catalog:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return SqliteCatalog(_local_path(url, "sqlite"))
    if scheme in ("mongodb", "mongodb+srv"):
        from .engine.adapters.mongo import MongoCatalog

        try:
            return MongoCatalog(url)
        except ValueError as error:
            raise ConfigError(f"ASSET_CATALOG: {error}") from None
    raise ConfigError(f"ASSET_CATALOG: unknown scheme {scheme!r} (sqlite:/// or mongodb://)")


def make_inspector(settings: Settings) -> ContentInspector:
    """The type plugins enabled by ``plugins.toml`` (``ASSET_PLUGINS_CONFIG``), built-in and
    installed; a mistake there is a ``ConfigError`` at start."""
    from .plugins.errors import PluginConfigError
    from .plugins.loading import load_plugins

    try:
        return load_plugins(settings.plugins_config)
    except PluginConfigError as error:
        raise ConfigError(str(error)) from error


@asynccontextmanager
async def running_engine(
    settings: Settings, *, scheduled_cleanup: bool = True
) -> AsyncIterator[AssetEngine]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_engine(
        blob_store_from_url(settings.blob_store_url),
        catalog_from_url(settings.catalog_url),
        make_inspector(settings),
        settings.engine_config(scheduled_cleanup=scheduled_cleanup),
    ) as engine:
        yield engine
