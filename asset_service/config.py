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
from urllib.parse import urlsplit

from .engine.dependencies import MAX_COMMIT_TAKEOVER_INTERVAL
from .engine.engine import EngineConfig
from .engine.previews import PreviewSettings

GiB = 1024**3
#: clock skew tolerated on ``exp``: more would let expired tokens in
MAX_JWT_LEEWAY = 30.0
MAX_WORKERS = 64


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
    #: seconds a token may live: its ``exp`` (an integer) at most this far from now
    jwt_max_lifetime: float = 7 * 86400.0
    #: PEM public key (or a path to one) for RS256/ES256 tokens
    jwt_public_key: str = ""
    #: the secret signed download links are derived from (default: ``jwt_secret``)
    url_signing_key: str = ""
    #: e.g. ``https://assets.example.com``: the base of the absolute links the service builds
    #: (signed download links, redirects); unset, links are relative. Never the ``Host`` header
    public_url: str = ""
    #: seconds: a signed link's expiry is rounded up to the next multiple of this, so the same
    #: link is handed out for a whole window and caches can keep what it answers (1 to 86400)
    link_window: int = 3600
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
    #: seconds any request body may go without a byte before it is answered 408
    upload_idle_timeout: float = 60.0
    #: a request body's total deadline: this many seconds, plus its declared size (or, when
    #: chunked, what it sent so far) at ``body_min_rate`` bytes per second; past it, 408
    body_deadline_floor: float = 60.0
    body_min_rate: int = 32 * 1024
    #: seconds a resumable (tus) upload lives after its last bytes before it expires
    upload_session_ttl: float = 86400.0
    #: heavy inspections (image decoding, video probes) at once; each may hold an image's
    #: decoded pixels, up to 4 bytes x the image plugin's ``max_pixels`` (320 MB by default)
    heavy_inspections: int = 2
    #: resumable (tus) uploads one customer may have open at once (partial uploads count)
    max_open_uploads: int = 100
    #: seconds between two passes that take over tus commits whose instance died and whose
    #: client does not come back (1 to ``MAX_COMMIT_TAKEOVER_INTERVAL``)
    commit_takeover_interval: float = 30.0
    #: origins browsers may call the API from (CORS): comma-separated, or ``*`` for any
    cors_origins: tuple[str, ...] = ()
    #: seconds in-flight requests get to finish after SIGTERM/SIGINT
    graceful_timeout: float = 30.0
    #: serving processes on the one address (``auto``: one per core); see supervisor.py
    workers: int = 1
    plugins_config: Path = Path("plugins.toml")
    #: ``on`` or ``off``: make previews (thumbnails, posters, waveforms) of committed versions
    previews: str = "on"
    #: previews made at once by one instance
    preview_concurrency: int = 2
    #: seconds one preview may take to render
    preview_timeout: float = 60.0
    #: seconds between two reads of the shared event log (``/api/events`` across instances)
    event_poll_interval: float = 0.1
    #: the event log keeps events at least this many seconds…
    event_retention: float = 600.0
    #: …and at least this many of the newest (at most 100 000)
    event_retention_count: int = 10_000
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
            previews=PreviewSettings(
                enabled=self.previews == "on",
                concurrency=self.preview_concurrency,
                timeout=self.preview_timeout,
            ),
            heavy_inspections=self.heavy_inspections,
            max_open_uploads=self.max_open_uploads,
            commit_takeover_interval=self.commit_takeover_interval,
            event_poll_interval=self.event_poll_interval,
            event_retention=self.event_retention,
            event_retention_count=self.event_retention_count,
            spool_dir=self.data_dir / "tmp" / "spool",
        )


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "extra"}


#: cgroup v2's CPU quota of this process's group (``max`` or ``<quota> <period>``)
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on: its CPU affinity (``docker run --cpuset-cpus``),
    lowered to a CPU quota rounded up (``--cpus 1.5`` is 2) — not the host's count, which
    ``os.cpu_count`` gives inside a container too."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, cores or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here: the affinity is the limit
    return cores


def parse_workers(raw: Any) -> int:
    """``ASSET_WORKERS`` / ``--workers``: a count from 1 to ``MAX_WORKERS``, or ``auto`` (one
    per usable core, at most ``MAX_WORKERS``)."""
    if str(raw).strip().lower() == "auto":
        return min(MAX_WORKERS, usable_cores())
    try:
        count = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"ASSET_WORKERS: {raw!r} is not a number of workers nor 'auto'") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigError(f"ASSET_WORKERS must be from 1 to {MAX_WORKERS}")
    return count


def _convert(name: str, raw: Any) -> Any:
    if name == "workers":
        return parse_workers(raw)
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
    if settings.upload_idle_timeout <= 0 or settings.body_deadline_floor <= 0:
        raise ConfigError(
            "ASSET_UPLOAD_IDLE_TIMEOUT and ASSET_BODY_DEADLINE_FLOOR must be positive"
        )
    if settings.jwt_max_lifetime <= 0:
        raise ConfigError("ASSET_JWT_MAX_LIFETIME must be positive")
    if settings.heavy_inspections < 1:
        raise ConfigError("ASSET_HEAVY_INSPECTIONS must be at least 1")
    if settings.body_min_rate < 1:
        raise ConfigError("ASSET_BODY_MIN_RATE must be at least 1 byte per second")
    if settings.cleanup_interval <= 0:
        raise ConfigError("ASSET_CLEANUP_INTERVAL must be positive")
    if settings.previews not in ("on", "off"):
        raise ConfigError(f"ASSET_PREVIEWS must be on or off, not {settings.previews!r}")
    if settings.preview_concurrency < 1:
        raise ConfigError("ASSET_PREVIEW_CONCURRENCY must be at least 1")
    if settings.preview_timeout <= 0:
        raise ConfigError("ASSET_PREVIEW_TIMEOUT must be positive")
    if not 1 <= settings.commit_takeover_interval <= MAX_COMMIT_TAKEOVER_INTERVAL:
        raise ConfigError(
            "ASSET_COMMIT_TAKEOVER_INTERVAL must be from 1 to "
            f"{MAX_COMMIT_TAKEOVER_INTERVAL:g} seconds, not {settings.commit_takeover_interval:g}"
        )
    if not 0 < settings.event_poll_interval <= 10:
        raise ConfigError("ASSET_EVENT_POLL_INTERVAL must be above 0 and at most 10 seconds")
    if settings.event_retention < 600:
        raise ConfigError("ASSET_EVENT_RETENTION must be at least 600 seconds")
    if not 10_000 <= settings.event_retention_count <= 100_000:
        raise ConfigError("ASSET_EVENT_RETENTION_COUNT must be from 10000 to 100000")
    check_link_window(settings.link_window)
    if settings.public_url and not _is_base_url(settings.public_url):
        raise ConfigError(
            "ASSET_PUBLIC_URL must be an http(s) URL without query or fragment, "
            f"e.g. https://assets.example.com, not {settings.public_url!r}"
        )
    if "none" in (alg.lower() for alg in settings.jwt_algorithms):
        raise ConfigError("ASSET_JWT_ALGORITHMS may not allow 'none'")
    return settings


def check_link_window(seconds: int) -> None:
    """``ASSET_LINK_WINDOW``: 1 second (links change every second, as before windows) to a
    day (a link then lives up to a day longer than asked)."""
    if not 1 <= seconds <= 86400:
        raise ConfigError(f"ASSET_LINK_WINDOW must be 1 to 86400 seconds, not {seconds}")


def _is_base_url(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
        and value.isascii()
        and not any(ch.isspace() for ch in value)
    )


def known_settings() -> list[str]:
    """Every environment variable this service reads (for docs and the compose-file test)."""
    return ["ASSET_CONFIG", *(f"ASSET_{name.upper()}" for name in _FIELDS)]
