"""What the engine's parts are built from, handed to each of them once.

``EngineDeps`` holds the two ports, the inspector, the event hub and the configuration.
``InFlight`` is the registry of the work this instance is in the middle of — temp blobs being
written, resumable uploads being received or committed, assets whose blobs are being placed —
which its producers register and the cleanup leaves alone however old it looks.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from .blobstore import BlobStore
from .catalog import Catalog
from .events import EventHub
from .inspection import ContentInspector
from .model import AssetType
from .preview_types import PreviewSettings
from .spool import SPOOL_THREADS, default_spool_dir

#: the most events the log may be asked to keep whatever their age
MAX_EVENT_RETENTION_COUNT = 100_000
#: the longest wait between two takeover passes of tus commits: an abandoned commit waits at
#: most this (plus the commit lease's 10 s), far inside a session's lifetime
MAX_COMMIT_TAKEOVER_INTERVAL = 3600.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    max_upload_bytes: int = 5 * 1024**3
    max_versions: int = 10
    temp_ttl: float = 3600.0
    trash_retention: float = 30 * 86400.0
    cleanup_interval: float = 600.0
    #: run the cleanup schedule in this engine (the CLI's one-shot pass does not)
    scheduled_cleanup: bool = True
    #: seconds a resumable (tus) upload lives without receiving bytes
    upload_session_ttl: float = 86400.0
    #: resumable (tus) uploads a customer may have open at once (partial uploads count)
    max_open_uploads: int = 100
    #: seconds between two passes that take over tus commits whose instance died while no
    #: client comes back to the upload (``TusCommits.take_over_abandoned``; 1 to 3600)
    commit_takeover_interval: float = 30.0
    #: heavy inspections (``Detected.heavy``: image decoding, video probes) run at once; each
    #: may hold an image's decoded pixels (4 bytes x the image plugin's ``max_pixels``)
    heavy_inspections: int = 2
    #: the preview actor (``ASSET_PREVIEWS``, ``ASSET_PREVIEW_CONCURRENCY``, ``…_TIMEOUT``)
    previews: PreviewSettings = field(default_factory=PreviewSettings)
    #: seconds between two reads of the event log by an instance that nothing woke
    event_poll_interval: float = 0.1
    #: the event log keeps events younger than this (seconds)…
    event_retention: float = 600.0
    #: …and, whatever their age, this many of the newest
    event_retention_count: int = 10_000
    #: where uploads to a store whose blobs are not local files (S3) are spooled while they
    #: arrive, for inspection (``{data_dir}/tmp/spool`` when served; ``None``: the system's
    #: temporary directory)
    spool_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.heavy_inspections < 1:
            raise ValueError("heavy_inspections must be at least 1")
        if not 1 <= self.commit_takeover_interval <= MAX_COMMIT_TAKEOVER_INTERVAL:
            raise ValueError(
                "commit_takeover_interval must be from 1 to "
                f"{MAX_COMMIT_TAKEOVER_INTERVAL:g} seconds"
            )
        if not 0 < self.event_poll_interval <= 10:
            raise ValueError("event_poll_interval must be above 0 and at most 10 seconds")
        if self.event_retention < 600:
            raise ValueError("event_retention must be at least 600 seconds")
        if not 10_000 <= self.event_retention_count <= MAX_EVENT_RETENTION_COUNT:
            raise ValueError(
                f"event_retention_count must be from 10000 to {MAX_EVENT_RETENTION_COUNT}"
            )


class Tally:
    """Keys of work in progress, each counted as often as it was entered."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def enter(self, key: str) -> None:
        self._counts[key] += 1

    def leave(self, key: str) -> None:
        """Undo one ``enter``; a key not entered is ignored."""
        if self._counts[key] <= 1:
            self._counts.pop(key, None)
        else:
            self._counts[key] -= 1

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        self.enter(key)
        try:
            yield
        finally:
            self.leave(key)

    def __contains__(self, key: object) -> bool:
        return key in self._counts

    def snapshot(self) -> frozenset[str]:
        return frozenset(self._counts)


@dataclass(slots=True)
class InFlight:
    """What this instance is working on right now; the cleanup skips all of it."""

    #: temp-bucket keys being written: uploads being received or committed, tus parts
    temp_blobs: Tally = field(default_factory=Tally)
    #: resumable (tus) uploads with a request or a commit running here
    upload_sessions: Tally = field(default_factory=Tally)
    #: assets whose content is being placed (created, or given a version)
    assets: Tally = field(default_factory=Tally)


@dataclass(frozen=True, slots=True)
class EngineDeps:
    store: BlobStore
    catalog: Catalog
    inspector: ContentInspector
    hub: EventHub
    config: EngineConfig
    in_flight: InFlight = field(default_factory=InFlight)
    #: names this process to the others (lease holders)
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: heavy inspection work (image decoding, video probes): ``config.heavy_inspections``
    #: worker threads at once, not Trio's default 40
    heavy_limiter: trio.CapacityLimiter = field(init=False)
    #: the spool's disk calls (``spool.py``)
    spool_limiter: trio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        # frozen: set once, here, from the configuration
        object.__setattr__(
            self, "heavy_limiter", trio.CapacityLimiter(self.config.heavy_inspections)
        )
        object.__setattr__(self, "spool_limiter", trio.CapacityLimiter(SPOOL_THREADS))

    @property
    def spool_dir(self) -> Path:
        return self.config.spool_dir or default_spool_dir()

    def asset_types(self) -> dict[str, AssetType]:
        return self.inspector.asset_types()
