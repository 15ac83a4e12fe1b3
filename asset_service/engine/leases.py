"""Kept-alive leases: a short catalog lease held while a piece of work runs.

``kept_lease`` takes a lease through the catalog's ``Leases`` port, renews it in a background
task every ``renew_every`` seconds while the block runs, and gives it back at the end. A short
TTL lets another instance take the work over within seconds of this one dying; the renewal keeps
it ours however long the work takes. If a renewal is refused (another holder took the lease, so
ours had run out) or no renewal succeeds before the lease would run out, the block is cancelled
and ``LeaseLost`` raised: work that is no longer exclusive must stop, not finish beside its
successor.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from .catalog import Leases
from .errors import Conflict

logger = logging.getLogger(__name__)


class LeaseHeld(Conflict):
    """Another holder's lease is live: the work is being done elsewhere."""


class LeaseLost(Conflict):
    """The lease ran out (or was taken) while the work ran; the work was cancelled."""


@dataclass(slots=True)
class KeptLease:
    """What the block learns about its lease: ``lost`` turns true before the block is
    cancelled, so that its clean-up can tell a lost lease (the successor owns the work's
    records now: leave them alone) from a shutdown."""

    name: str
    holder: str
    lost: bool = False


@asynccontextmanager
async def kept_lease(
    leases: Leases, name: str, holder: str, *, ttl: float, renew_every: float
) -> AsyncIterator[KeptLease]:
    """Hold the lease ``name`` for the block: ``LeaseHeld`` if another holder has it, and
    ``LeaseLost`` (the block cancelled) if it could not be kept. ``renew_every`` must leave
    room for a slow renewal well inside ``ttl``."""
    if renew_every >= ttl:
        raise ValueError("a lease must be renewed before it runs out")
    if not await leases.acquire_lease(name, holder, ttl):
        raise LeaseHeld(f"the lease {name} is held elsewhere")
    kept = KeptLease(name, holder)

    async def keep(cancel_work: trio.CancelScope) -> None:
        # ``trio.current_time``: the autojump clock of a test drives it like the sleeps.
        valid_until = trio.current_time() + ttl
        while True:
            await trio.sleep(renew_every)
            renewed = False
            # A renewal that has not answered by the time the lease runs out is as good as
            # refused: another instance may take it from then on.
            with trio.move_on_at(valid_until):
                try:
                    started = trio.current_time()
                    renewed = await leases.acquire_lease(name, holder, ttl)
                    if not renewed:
                        logger.warning("lease %s: taken by another holder", name)
                        break
                    valid_until = started + ttl
                except Exception:
                    logger.warning("lease %s: a renewal failed", name, exc_info=True)
            if not renewed and trio.current_time() >= valid_until:
                break
        kept.lost = True
        cancel_work.cancel()

    try:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep, nursery.cancel_scope)
                try:
                    yield kept
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The keeper never raises: the group holds the block's own error, which the caller
            # expects as itself.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    finally:
        if not kept.lost:
            with trio.move_on_after(10, shield=True):
                try:
                    await leases.release_lease(name, holder)
                except Exception:
                    # It runs out by itself within ``ttl``.
                    logger.warning("lease %s: could not be released", name, exc_info=True)
    if kept.lost:
        raise LeaseLost(f"the lease {name} ran out while the work ran")
