"""How a resumable (tus) upload is stored: its parts' keys in the temp bucket, its asset fields
as a document in the session record, and removing its bytes.

A session's bytes are parts, one blob per request that brought bytes, at
``tus/{upload_id}/{offset}-{nonce}`` (the nonce keeps two racing appends at one offset apart);
the record lists them in order (``model.UploadPart``). Shared by the append path
(``engine.tus``), the commit (``engine.tus_commit``) and the cleanup actor.
"""

from __future__ import annotations

from typing import Any

from .blobstore import BlobStore
from .fields import NewAssetFields
from .model import TEMP_BUCKET, UploadSession, Visibility

PART_PREFIX = "tus/"
#: parts one upload may have (the record lists them all; S3 multipart has the same limit)
MAX_PARTS = 10_000


def parts_prefix(upload_id: str) -> str:
    return f"{PART_PREFIX}{upload_id}/"


def part_key(upload_id: str, offset: int, nonce: str) -> str:
    return f"{parts_prefix(upload_id)}{offset:015d}-{nonce}"


def session_of_part(key: str) -> str | None:
    """The upload id a temp key belongs to, if it is a part."""
    if not key.startswith(PART_PREFIX):
        return None
    upload_id, _, _ = key[len(PART_PREFIX) :].partition("/")
    return upload_id or None


def part_keys(session: UploadSession) -> list[str]:
    keys, offset = [], 0
    for part in session.parts:
        keys.append(part_key(session.upload_id, offset, part.nonce))
        offset += part.size
    return keys


async def remove_parts(store: BlobStore, upload_id: str) -> None:
    """Every blob under the session's prefix: its parts, and those of appends that lost a
    race and could not remove their own."""
    async for blob in store.list(TEMP_BUCKET, parts_prefix(upload_id)):
        await store.delete(TEMP_BUCKET, blob.key)


def fields_document(fields: NewAssetFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "title": fields.title,
        "description": fields.description,
        "tags": list(fields.tags),
        "folder": fields.folder,
        "category": fields.category,
        "custom": dict(fields.custom),
        "visibility": fields.visibility.value,
    }


def fields_from_document(doc: dict[str, Any]) -> NewAssetFields:
    return NewAssetFields(
        name=doc.get("name"),
        title=doc.get("title"),
        description=doc.get("description"),
        tags=tuple(doc.get("tags") or ()),
        folder=doc.get("folder") or "/",
        category=doc.get("category"),
        custom=dict(doc.get("custom") or {}),
        visibility=Visibility(doc.get("visibility") or Visibility.CUSTOMER),
    )
