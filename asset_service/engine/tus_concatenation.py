"""tus concatenation: partial uploads, and the final upload that commits them as one asset.

A partial upload (``concat="partial"``) receives bytes like any session but is never committed
by itself. A final upload (``concat="final"``) has no bytes of its own: it lists its partials,
which must be complete and the same user's. Creating it claims each partial (compare-and-set:
``final_id``), so two finals can't both take one partial, nor can it be terminated meanwhile;
then the partials' parts are replayed, in order, through the upload pipeline once — one
inspection, one sha256 over the whole. Once the final is committed or refused, its partials go;
if its commit fails otherwise (a backend down, a shutdown), the claims are released so that the
client may send the final again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from .catalog import Catalog
from .errors import Conflict, Gone, InvalidInput, NotFound, PayloadTooLarge
from .model import Principal, UploadSession, UploadState, utc_now

PARTIAL = "partial"
FINAL = "final"
#: partial uploads one final upload may name
MAX_PARTIALS = 256


async def claim_partials(
    catalog: Catalog,
    principal: Principal,
    partial_ids: list[str],
    final_id: str,
    *,
    max_bytes: int,
    hold_for: float,
) -> list[UploadSession]:
    """Check and claim the partials for the final upload ``final_id``; returns them as
    claimed, in order. Nothing stays claimed when this raises."""
    if not partial_ids:
        raise InvalidInput("Upload-Concat: final names no partial upload")
    if len(partial_ids) > MAX_PARTIALS:
        raise InvalidInput(f"a final upload may name at most {MAX_PARTIALS} partial uploads")
    if len(set(partial_ids)) != len(partial_ids):
        raise InvalidInput("Upload-Concat: final names a partial upload twice")
    partials = [await _usable_partial(catalog, principal, upload_id) for upload_id in partial_ids]
    total = sum(partial.length or 0 for partial in partials)
    if total > max_bytes:
        raise PayloadTooLarge(f"the upload is larger than {max_bytes} bytes")
    claimed: list[UploadSession] = []
    try:
        for partial in partials:
            # Held past the final's commit: the cleanup must not take the bytes mid-replay.
            hold = utc_now() + timedelta(seconds=hold_for)
            taken = replace(
                partial,
                final_id=final_id,
                expires_at=max(partial.expires_at, hold),
                revision=partial.revision + 1,
            )
            if not await catalog.replace_upload(taken, partial.revision):
                raise Conflict(
                    f"the partial upload {partial.upload_id} changed meanwhile; try again"
                )
            claimed.append(taken)
    except BaseException:
        await release_partials(catalog, [p.upload_id for p in claimed], final_id)
        raise
    return claimed


async def _usable_partial(catalog: Catalog, principal: Principal, upload_id: str) -> UploadSession:
    partial = await catalog.get_upload(upload_id)
    # another user's upload is not there for this one (as for every upload route)
    if (
        partial is None
        or partial.customer_id != principal.customer_id
        or partial.user_id != principal.user_id
    ):
        raise NotFound(f"no such partial upload: {upload_id}")
    if partial.concat != PARTIAL:
        raise InvalidInput(f"the upload {upload_id} was not created with Upload-Concat: partial")
    if partial.state is not UploadState.RECEIVING or partial.expires_at <= utc_now():
        raise InvalidInput(f"the partial upload {upload_id} has expired or was terminated")
    if partial.final_id is not None:
        raise Conflict(f"the partial upload {upload_id} belongs to another final upload")
    if not partial.complete:
        raise InvalidInput(f"the partial upload {upload_id} is not complete")
    return partial


async def release_partials(catalog: Catalog, partial_ids: list[str], final_id: str) -> None:
    """Give back the claims of ``final_id`` (its commit failed for a reason other than the
    content): the partials can go into a final again."""
    for upload_id in partial_ids:
        for _ in range(4):
            partial = await catalog.get_upload(upload_id)
            if partial is None or partial.final_id != final_id:
                break
            released = replace(partial, final_id=None, revision=partial.revision + 1)
            if await catalog.replace_upload(released, partial.revision):
                break


async def claimed_partials(catalog: Catalog, final: UploadSession) -> list[UploadSession]:
    """The final upload's partials as stored, in order (for its replay)."""
    partials = []
    for upload_id in final.partials:
        partial = await catalog.get_upload(upload_id)
        if partial is None or partial.final_id != final.upload_id:
            raise Gone("a partial upload of this final upload is gone; upload it again")
        partials.append(partial)
    return partials
