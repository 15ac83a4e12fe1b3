"""What the crash harness (``tests/crash_harness.py``) knows and checks: the model of what the
API acknowledged — and of what cut requests may or may not have done — and the checks of the
store, the catalog and the API against it after each restart and cleanup pass."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from blob_views import BlobReader, FilesystemBlobs, S3Blobs
from server_process import catalog_assets, mint_token, sha256

REQUEST_TIMEOUT = 60.0


class InvariantBroken(AssertionError):
    """What was found contradicts what the API said or what must never be visible."""


Label = tuple[str | None, tuple[str, ...]]


def label_of(title: str | None, tags: Any) -> Label:
    """An edit's visible effect, compared as a title and a tag set (the service sorts tags)."""
    return title, tuple(sorted(tags))


# --- what the API has told us ----------------------------------------------------------------


@dataclass(slots=True)
class KnownAsset:
    asset_id: str
    image: bool
    #: version number -> sha256, for versions acknowledged (or adopted after a cut)
    versions: dict[int, str]
    #: the (title, tags) of its upload or of the last acknowledged edit
    label: Label
    #: sha256 of new versions whose requests were cut: each may or may not have landed
    cut_versions: list[str] = field(default_factory=list)
    #: the (title, tags) of later edits whose requests were cut: the record may show one
    cut_labels: list[Label] = field(default_factory=list)
    downloaded: set[int] = field(default_factory=set)


@dataclass(slots=True)
class OpenTus:
    """A tus upload the harness began and has not seen committed yet (a kill cut it)."""

    url: str
    content: bytes
    label: Label
    image: bool


@dataclass(slots=True)
class Model:
    customer: str
    assets: dict[str, KnownAsset] = field(default_factory=dict)
    #: tus uploads by URL, from their creation until the asset they made is known
    open_tus: dict[str, OpenTus] = field(default_factory=dict)
    #: sha256 -> ((title, tags), image?) of uploads whose requests were cut
    cut_uploads: dict[str, tuple[Label, bool]] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_target(self, pick: float) -> KnownAsset | None:
        with self.lock:
            idle = sorted(a for a in self.assets if a not in self.busy)
            if not idle:
                return None
            target = self.assets[idle[int(pick * len(idle))]]
            self.busy.add(target.asset_id)
            return target

    def release(self, asset_id: str) -> None:
        with self.lock:
            self.busy.discard(asset_id)


@dataclass(slots=True)
class Counts:
    outcomes: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    kills_after_body: int = 0
    lives: int = 0
    unsent: int = 0
    adopted_uploads: int = 0
    adopted_versions: int = 0
    adopted_edits: int = 0
    #: tus uploads a kill cut, finished by the next life (a takeover when it cut the commit)
    tus_resumed: int = 0
    #: of those, the ones whose bytes were all in: the kill cut the commit (or its answer)
    tus_complete_when_cut: int = 0
    cleanup: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lives": self.lives,
            "kills": self.kills,
            "kills_after_a_whole_body": self.kills_after_body,
            "outcomes": dict(sorted(self.outcomes.items())),
            "unsent_then_resent": self.unsent,
            "committed_but_answer_lost": {
                "uploads": self.adopted_uploads,
                "versions": self.adopted_versions,
                "edits": self.adopted_edits,
            },
            "tus_resumed": self.tus_resumed,
            "tus_complete_when_cut": self.tus_complete_when_cut,
            "cleanup_removed": dict(sorted(self.cleanup.items())),
            "checked": dict(sorted(self.checks.items())),
            "server_errors": self.server_errors,
        }


# --- the checks ------------------------------------------------------------------------------


class Checker:
    """Checks one customer's assets against the model, adopting what cut requests committed
    (their commit finished, their answer did not get out)."""

    def __init__(
        self, model: Model, counts: Counts, blobs: FilesystemBlobs | S3Blobs, data_dir: Path
    ) -> None:
        self.model = model
        self.counts = counts
        self.blobs = blobs
        self.data_dir = data_dir
        self.customer = model.customer
        #: fingerprint -> (size, sha256) of blobs already hashed
        self.hashed: dict[object, tuple[int, str]] = {}

    def check_store(self) -> None:
        model, counts = self.model, self.counts
        leftovers = self.blobs.leftovers()
        if leftovers:
            raise InvariantBroken(f"left in the temp area after cleanup: {leftovers}")
        blobs = self.blobs.asset_blobs()
        referenced: set[tuple[str, str]] = set()
        records = catalog_assets(self.data_dir, self.customer)
        for record in records:
            numbers = [v.version for v in record.versions]
            if numbers != list(range(1, len(numbers) + 1)) or record.current_version != numbers[-1]:
                raise InvariantBroken(
                    f"{record.asset_id}: versions {numbers}, current {record.current_version}"
                )
            for version in record.versions:
                where = (record.storage.bucket, version.storage_key)
                referenced.add(where)
                if where not in blobs:
                    raise InvariantBroken(f"{record.asset_id} v{version.version}: no blob")
                if self.size_and_hash(*blobs[where]) != (version.size, version.checksum):
                    raise InvariantBroken(f"{record.asset_id} v{version.version}: blob differs")
            if record.checksum != record.versions[-1].checksum:
                raise InvariantBroken(f"{record.asset_id}: current checksum is not the last's")
            self.reconcile(record)
        counts.checks["records"] = len(records)
        missing = set(model.assets) - {r.asset_id for r in records}
        if missing:
            raise InvariantBroken(f"acknowledged but gone: {sorted(missing)}")
        orphans = set(blobs) - referenced
        if orphans:
            raise InvariantBroken(f"blobs no version points to: {sorted(orphans)}")
        model.cut_uploads.clear()  # a cut upload not there now never will be

    def size_and_hash(self, fingerprint: object, read: BlobReader) -> tuple[int, str]:
        known = self.hashed.get(fingerprint)
        if known is None:
            content = read()
            known = self.hashed[fingerprint] = (len(content), sha256(content))
            self.counts.checks["blobs hashed"] += 1
        self.counts.checks["blob checks"] += 1
        return known

    def reconcile(self, record: Any) -> None:
        """Match one record against the model; adopt what cut requests committed."""
        model, counts = self.model, self.counts
        label = label_of(record.metadata.title, record.metadata.tags)
        known = model.assets.get(record.asset_id)
        if known is None:
            adopted = model.cut_uploads.pop(record.versions[0].checksum, None)
            if adopted is None or label != adopted[0]:
                raise InvariantBroken(f"a record nobody created: {record.asset_id} {label}")
            known = KnownAsset(record.asset_id, adopted[1], {1: record.versions[0].checksum}, label)
            model.assets[record.asset_id] = known
            counts.adopted_uploads += 1
        for version in record.versions:
            expected = known.versions.get(version.version)
            if expected is None:
                if version.checksum not in known.cut_versions:
                    raise InvariantBroken(
                        f"{record.asset_id} v{version.version}: a version nobody added"
                    )
                known.cut_versions.remove(version.checksum)
                known.versions[version.version] = version.checksum
                counts.adopted_versions += 1
            elif expected != version.checksum:
                raise InvariantBroken(f"{record.asset_id} v{version.version}: another checksum")
        missing = set(known.versions) - {v.version for v in record.versions}
        if missing:
            raise InvariantBroken(f"{record.asset_id}: acknowledged versions gone: {missing}")
        known.cut_versions.clear()
        if label != known.label:
            if label not in known.cut_labels:
                raise InvariantBroken(f"{record.asset_id}: shows {label}, not {known.label}")
            known.label = label
            counts.adopted_edits += 1
        known.cut_labels.clear()

    def check_api(self, base_url: str, *, download_all: bool) -> None:
        token = mint_token(customer=self.customer, roles=("viewer",), ttl=3600)
        with httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT,
        ) as client:
            listed: set[str] = set()
            cursor: str | None = None
            while True:
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/assets/search", params=params)
                if page.status_code != 200:
                    raise InvariantBroken(f"search: {page.status_code} {page.text}")
                body = page.json()
                listed |= {item["asset_id"] for item in body["items"]}
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            if listed != set(self.model.assets):
                raise InvariantBroken(
                    f"search lists {len(listed)} assets, the catalog has {len(self.model.assets)}"
                )
            for known in self.model.assets.values():
                record = client.get(f"/api/assets/{known.asset_id}")
                if record.status_code != 200:
                    raise InvariantBroken(f"GET {known.asset_id}: {record.status_code}")
                current = max(known.versions)
                if record.json()["checksum"] != known.versions[current]:
                    raise InvariantBroken(f"GET {known.asset_id}: another checksum")
                self.counts.checks["records read"] += 1
                for number, checksum in sorted(known.versions.items()):
                    if number in known.downloaded and not download_all:
                        continue
                    got = client.get(
                        f"/api/assets/{known.asset_id}/download", params={"version": number}
                    )
                    if got.status_code != 200 or sha256(got.content) != checksum:
                        raise InvariantBroken(
                            f"download {known.asset_id} v{number}: {got.status_code}"
                        )
                    known.downloaded.add(number)
                    self.counts.checks["versions downloaded"] += 1
