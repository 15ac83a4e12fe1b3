"""Settings: every one is an ``ASSET_*`` environment variable, optionally also read from a TOML
file named by ``ASSET_CONFIG`` (keys are the setting names in lower case, without the prefix).
The environment wins over the file. Unknown keys in the file are an error, so a typo is caught
at start rather than silently ignored."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine.engine import EngineConfig

GiB = 1024**3
#: clock skew tolerated on ``exp``: more would let expired tokens in
MAX_JWT_LEEWAY = 30.0


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./data")
    #: ``file:///path`` (default: ``{data_dir}/blobs``) or ``s3://…``
    blob_store: str = ""
    #: ``sqlite:///path`` (default: ``{data_dir}/catalog.db``) or ``mongodb://…``
    catalog: str = ""
    jwt_secret: str = ""
    #: comma-separated allow-list; ``none`` is never accepted whatever this says
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str = ""
    jwt_issuer: str = ""
    jwt_leeway: float = 5.0
    #: PEM public key (or a path to one) for RS256/ES256 tokens
    jwt_public_key: str = ""
    #: the secret signed download links are derived from (default: ``jwt_secret``)
    url_signing_key: str = ""
    #: if set, ``/metrics`` needs ``Authorization: Bearer <this>``; otherwise it is open
    metrics_token: str = ""
    #: e.g. ``/_asset_blobs/``: a download from the filesystem store is answered, once
    #: authorised, with ``X-Accel-Redirect: <prefix><bucket>/<key>`` and no body, for a front
    #: nginx whose internal location maps the prefix to the blob root (README, BENCHMARKS.md)
    accel_redirect_prefix: str = ""
    max_upload_bytes: int = 5 * GiB
    max_versions: int = 10
    temp_ttl: float = 3600.0
    trash_retention: float = 30 * 86400.0
    cleanup_interval: float = 600.0
    #: seconds a request body may stall between two chunks before the upload is abandoned
    upload_idle_timeout: float = 60.0
    #: seconds a resumable (tus) upload lives after its last bytes before it expires
    upload_session_ttl: float = 86400.0
    #: resumable (tus) uploads one customer may have open at once (partial uploads count)
    max_open_uploads: int = 100
    #: origins browsers may call the API from (CORS): comma-separated, or ``*`` for any
    cors_origins: tuple[str, ...] = ()
    #: seconds in-flight requests get to finish after SIGTERM/SIGINT
    graceful_timeout: float = 30.0
    plugins_config: Path = Path("plugins.toml")
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url_signing_secret(self) -> str:
        return self.url_signing_key or self.jwt_secret

    @property
    def blob_store_url(self) -> str:
        return self.blob_store or f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def catalog_url(self) -> str:
        return self.catalog or f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    def engine_config(self, *, scheduled_cleanup: bool = True) -> EngineConfig:
        return EngineConfig(
            max_upload_bytes=self.max_upload_bytes,
            max_versions=self.max_versions,
            temp_ttl=self.temp_ttl,
            trash_retention=self.trash_retention,
            cleanup_interval=self.cleanup_interval,
            scheduled_cleanup=scheduled_cleanup,
            upload_session_ttl=self.upload_session_ttl,
            max_open_uploads=self.max_open_uploads,
        )


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "extra"}


def _convert(name: str, raw: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            value = int(raw)
        elif kind == "float":
            value = float(raw)
        elif kind == "Path":
            value = Path(str(raw))
        elif kind == "tuple[str, ...]":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            value = tuple(str(item).strip() for item in items if str(item).strip())
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"ASSET_{name.upper()}: {raw!r} is not a valid {kind}") from None
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"ASSET_{name.upper()} may not be negative")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = environ.get("ASSET_CONFIG")
    if config_file:
        try:
            with open(config_file, "rb") as handle:
                from_file = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"ASSET_CONFIG={config_file}: {error}") from None
        for key, raw in from_file.items():
            if key not in _FIELDS:
                raise ConfigError(f"{config_file}: unknown setting {key!r}")
            values[key] = _convert(key, raw)
    for name in _FIELDS:
        raw = environ.get(f"ASSET_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = _convert(name, raw)
    settings = Settings(**values)
    if settings.max_versions < 1:
        raise ConfigError("ASSET_MAX_VERSIONS must be at least 1")
    if settings.jwt_leeway > MAX_JWT_LEEWAY:
        raise ConfigError(f"ASSET_JWT_LEEWAY may be at most {MAX_JWT_LEEWAY:g} seconds")
    if settings.cleanup_interval <= 0:
        raise ConfigError("ASSET_CLEANUP_INTERVAL must be positive")
    if "none" in (alg.lower() for alg in settings.jwt_algorithms):
        raise ConfigError("ASSET_JWT_ALGORITHMS may not allow 'none'")
    return settings


def known_settings() -> list[str]:
    """Every environment variable this service reads (for docs and the compose-file test)."""
    return ["ASSET_CONFIG", *(f"ASSET_{name.upper()}" for name in _FIELDS)]
