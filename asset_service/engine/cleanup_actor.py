"""The cleanup actor: removes what nobody will come back for.

A pass removes expired resumable (tus) sessions with their parts, stale temp blobs and writes a
crashed process never finished, soft-deleted assets past retention (every version's blob first,
then the record) and orphan blobs no record points to — skipping whatever ``InFlight`` says this
instance is working on. Passes run on a schedule, on demand and from ``asset-service cleanup
--once``; the ``cleanup`` and ``cleanup-period`` leases keep several instances from overlapping.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import outcome
import trio

from .actor import Inbox, Mailbox, Request, ask
from .dependencies import EngineConfig, EngineDeps
from .events import asset_event
from .model import TEMP_BUCKET, Asset, UploadState, bucket_of, utc_now
from .preview_store import PREVIEW_KEY, delete_previews
from .preview_types import PreviewStates
from .spool import sweep_spool
from .tus_storage import parts_prefix, session_of_part

logger = logging.getLogger(__name__)

PASS_LEASE = "cleanup"
PERIOD_LEASE = "cleanup-period"
#: how long a pass lease outlives a process that died mid-pass
PASS_LEASE_TTL = 60.0
_VERSION_KEY = re.compile(r"^(?P<customer>[^/]+)/(?P<asset>[0-9a-f-]{36})/v(?P<number>\d+)$")


#: blobs looked at between two renewals of the pass lease during the orphan scan
RENEW_EVERY = 1000


class _LeaseLost(Exception):
    pass


@dataclass(slots=True)
class CleanupReport:
    uploads_expired: int = 0
    temp_removed: int = 0
    incomplete_removed: int = 0
    purged: int = 0
    orphans_removed: int = 0
    #: stale local spool files (swept by every pass, skipped or not: the spool is this host's)
    spool_removed: int = 0
    skipped: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CleanupTotals:
    """Every pass this process ran, added up (for ``/metrics``). A pass that failed counts
    as failed; what it removed before failing is not in the sums."""

    completed: int = 0
    skipped: int = 0
    failed: int = 0
    uploads_expired: int = 0
    temp_removed: int = 0
    incomplete_removed: int = 0
    purged: int = 0
    orphans_removed: int = 0
    spool_removed: int = 0
    errors: int = 0
    #: Unix time the last completed pass ended
    last_completed_at: float | None = None

    def add(self, report: CleanupReport | None) -> None:
        if report is None:
            self.failed += 1
            return
        self.spool_removed += report.spool_removed
        if report.skipped:
            self.skipped += 1
            return
        self.completed += 1
        self.uploads_expired += report.uploads_expired
        self.temp_removed += report.temp_removed
        self.incomplete_removed += report.incomplete_removed
        self.purged += report.purged
        self.orphans_removed += report.orphans_removed
        self.errors += len(report.errors)
        self.last_completed_at = time.time()


@dataclass(frozen=True, slots=True)
class CleanupPolicy:
    temp_ttl: float
    trash_retention: float
    interval: float

    @classmethod
    def of(cls, config: EngineConfig) -> CleanupPolicy:
        return cls(config.temp_ttl, config.trash_retention, config.cleanup_interval)


@dataclass(frozen=True, slots=True)
class RunCleanup(Request[CleanupReport]):
    """One full pass; answered with what it removed."""

    #: on-demand passes wait for another instance's lease; scheduled ones skip the period
    wait_for_lease: bool = False
    scheduled: bool = False


class CleanupActor:
    def __init__(self, deps: EngineDeps) -> None:
        self._deps = deps
        self._store = deps.store
        self._catalog = deps.catalog
        self._hub = deps.hub
        self._asset_types = deps.asset_types
        self._policy = CleanupPolicy.of(deps.config)
        self._holder = deps.instance_id
        self._in_flight = deps.in_flight
        self.totals = CleanupTotals()

    async def run(
        self, inbox: Inbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with inbox:
            task_status.started()
            async for envelope in inbox:
                match envelope.request:
                    case RunCleanup(wait_for_lease=wait, scheduled=scheduled):
                        await envelope.answer_with(lambda: self._counted_pass(wait, scheduled))
                    case request:
                        logger.error("cleanup actor: unexpected request %r", request)
                        envelope.answer(outcome.Error(TypeError(f"not a request: {request!r}")))

    async def schedule(
        self,
        mailbox: Mailbox,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Ask for a pass every ``interval`` seconds. Owns (and closes) its mailbox clone."""
        async with mailbox:
            task_status.started()
            while True:
                await trio.sleep(self._policy.interval)
                try:
                    report = await ask(mailbox, RunCleanup(scheduled=True))
                except Exception:
                    logger.exception("scheduled cleanup pass failed")
                    continue
                if not report.skipped:
                    logger.info("cleanup pass: %s", report)

    async def _counted_pass(self, wait_for_lease: bool, scheduled: bool) -> CleanupReport:
        report = None
        try:
            report = await self._pass(wait_for_lease, scheduled)
            return report
        finally:
            self.totals.add(report)

    async def _pass(self, wait_for_lease: bool, scheduled: bool) -> CleanupReport:
        report = CleanupReport()
        # Local, so not under the lease: another instance's pass can't see this host's disk.
        await self._sweep_spool(report)
        if scheduled:
            period = self._policy.interval * 0.9
            if not await self._catalog.acquire_lease(PERIOD_LEASE, self._holder, period):
                # another instance has this period
                return CleanupReport(skipped=True, spool_removed=report.spool_removed)
        while not await self._renew():
            if not wait_for_lease:
                return CleanupReport(skipped=True, spool_removed=report.spool_removed)
            await trio.sleep(1)
        try:
            await self._remove_expired_uploads(report)
            await self._keep_lease()
            await self._remove_temp(report)
            await self._keep_lease()
            await self._purge_trash(report)
            await self._keep_lease()
            await self._remove_orphans(report)
        except _LeaseLost:
            # Another instance took over (our lease ran out mid-pass): it does the rest.
            report.errors.append("the cleanup lease was lost; the pass stopped")
        finally:
            with trio.move_on_after(10, shield=True):
                await self._catalog.release_lease(PASS_LEASE, self._holder)
        return report

    async def _renew(self) -> bool:
        """Take or extend the pass lease."""
        return await self._catalog.acquire_lease(PASS_LEASE, self._holder, PASS_LEASE_TTL)

    async def _keep_lease(self) -> None:
        if not await self._renew():
            raise _LeaseLost

    def _age_cutoff(self, seconds: float) -> datetime:
        return utc_now() - timedelta(seconds=seconds)

    async def _remove_expired_uploads(self, report: CleanupReport) -> None:
        """Resumable upload sessions past their expiry: the record first (compare-and-set, so
        a session a request has just extended stays), then its parts."""
        busy = self._in_flight.upload_sessions.snapshot()
        skipped: set[str] = set()
        while True:
            batch = await self._catalog.expired_uploads(utc_now(), limit=200)
            batch = [s for s in batch if s.upload_id not in busy and s.upload_id not in skipped]
            if not batch:
                return
            for session in batch:
                if not await self._catalog.delete_upload(session.upload_id, session.revision):
                    skipped.add(session.upload_id)
                    continue
                async for blob in self._store.list(TEMP_BUCKET, parts_prefix(session.upload_id)):
                    await self._store.delete(TEMP_BUCKET, blob.key)
                report.uploads_expired += 1
            await self._keep_lease()

    async def _sweep_spool(self, report: CleanupReport) -> None:
        """This host's spool files older than the temp TTL (a crashed process's), except the
        uploads in progress here (stores whose blobs are local files spool nothing)."""
        if self._deps.store.local_root is not None:
            return
        report.spool_removed = await sweep_spool(
            self._deps.spool_dir,
            self._policy.temp_ttl,
            keep=self._in_flight.temp_blobs.snapshot(),
            limiter=self._deps.spool_limiter,
        )

    async def _remove_temp(self, report: CleanupReport) -> None:
        cutoff = self._age_cutoff(self._policy.temp_ttl)
        busy = self._in_flight.temp_blobs.snapshot()
        #: whether each resumable upload met among the parts still needs them
        sessions: dict[str, bool] = {}
        async for blob in self._store.list(TEMP_BUCKET):
            if blob.key in busy or blob.modified > cutoff:
                continue
            upload_id = session_of_part(blob.key)
            if upload_id is not None:
                # A live session's parts stay whatever their age: the session expires by itself.
                # Once committed (or refused, or terminated) they are garbage: a commit whose
                # instance died between its record and its tidy-up leaves them.
                if upload_id not in sessions:
                    session = await self._catalog.get_upload(upload_id)
                    sessions[upload_id] = session is not None and session.state in (
                        UploadState.RECEIVING,
                        UploadState.COMMITTING,
                    )
                if sessions[upload_id]:
                    continue
            await self._store.delete(TEMP_BUCKET, blob.key)
            report.temp_removed += 1
        report.incomplete_removed += await self._store.remove_incomplete(
            TEMP_BUCKET, self._policy.temp_ttl, keep=busy
        )

    async def _purge_trash(self, report: CleanupReport) -> None:
        cutoff = self._age_cutoff(self._policy.trash_retention)
        while batch := await self._catalog.deleted_before(cutoff, limit=200):
            for asset in batch:
                await purge_asset(self._deps, asset)
                report.purged += 1
            await self._keep_lease()

    async def _remove_orphans(self, report: CleanupReport) -> None:
        # Content is promoted into place just before its record is written: the grace period
        # (the temp TTL) keeps another instance's commit in progress from looking orphaned.
        cutoff = self._age_cutoff(self._policy.temp_ttl)
        records: dict[str, Asset | None] = {}
        buckets = sorted({t.bucket for t in self._asset_types().values()})
        for bucket in buckets:
            seen = 0
            async for blob in self._store.list(bucket):
                seen += 1
                if seen % RENEW_EVERY == 0:
                    await self._keep_lease()
                # previews: a preview blob is an orphan once its version is gone
                match = _VERSION_KEY.match(blob.key) or PREVIEW_KEY.match(blob.key)
                if match is None or blob.modified > cutoff:
                    continue  # not a key this service writes, or too young to judge
                asset_id = match["asset"]
                if asset_id in self._in_flight.assets:
                    continue
                if asset_id not in records:
                    records[asset_id] = await self._catalog.get(asset_id)
                record = records[asset_id]
                version_key = blob.key.split(".previews/")[0]  # a preview's is its version's
                if record is None or not any(v.storage_key == version_key for v in record.versions):
                    await self._store.delete(bucket, blob.key)
                    report.orphans_removed += 1
            report.incomplete_removed += await self._store.remove_incomplete(
                bucket, self._policy.temp_ttl
            )


async def purge_asset(deps: EngineDeps, asset: Asset) -> None:
    """Delete an asset for good: every version's blob (and its public copy, if any), then the
    record. The cleanup's trash sweep and an admin's purge (``AssetEngine.purge``) share it."""
    bucket = bucket_of(asset, deps.asset_types())
    for version in asset.versions:
        await deps.store.set_public(bucket, version.storage_key, False)
        await deps.store.delete(bucket, version.storage_key)
    states = deps.catalog if isinstance(deps.catalog, PreviewStates) else None
    await delete_previews(deps.store, states, bucket, asset)  # previews
    await deps.catalog.delete(asset.asset_id)
    deps.hub.publish(asset_event("asset.purged", asset))
