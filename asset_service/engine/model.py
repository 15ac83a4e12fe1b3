"""The asset record and the small value types around it.

The record keeps the seed's ``assets`` schema field for field, plus ``category``, ``checksum``,
``current_version``, ``visibility``, ``revision`` and ``extracted``. ``to_document`` /
``from_document`` give the plain-dict form every catalog adapter stores, so SQLite and MongoDB
hold the same shape.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    """Now, to the millisecond: the precision every catalog stores, so a record read back
    equals the one written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_asset_id() -> str:
    return str(uuid.uuid4())


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision and a ``Z``: sortable as text."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Visibility(enum.StrEnum):
    CUSTOMER = "customer"  # every user of the customer (the default)
    PRIVATE = "private"  # the owner and the customer's admins
    PUBLIC = "public"  # downloadable without a token


class Role(enum.StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class AssetType:
    """A kind of asset: where its blobs live and what it accepts."""

    name: str
    bucket: str
    mime_types: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    max_size: int | None = None


SEED_TYPES: dict[str, AssetType] = {
    "audio": AssetType("audio", "audio-assets"),
    "image": AssetType("image", "image-assets"),
    "video": AssetType("video", "video-assets"),
    "document": AssetType("document", "document-assets"),
}
TEMP_BUCKET = "temp-uploads"


@dataclass(frozen=True, slots=True)
class Dimensions:
    width: int
    height: int

    def to_dict(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}


@dataclass(slots=True)
class Storage:
    bucket: str
    key: str
    url: str | None = None


@dataclass(slots=True)
class Metadata:
    title: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    folder: str = "/"
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Version:
    """One stored content of an asset. Numbers start at 1 and never repeat or skip."""

    version: int
    created_at: datetime
    size: int
    storage_key: str
    checksum: str
    mime_type: str
    original_filename: str
    duration: float | None = None
    dimensions: Dimensions | None = None
    extracted: dict[str, Any] = field(default_factory=dict)

    def renumbered(self, number: int, key: str) -> Version:
        """The same content as a new version ``number`` under ``key`` (a restore)."""
        return dataclasses.replace(
            self,
            version=number,
            storage_key=key,
            created_at=utc_now(),
            extracted=dict(self.extracted),
        )


@dataclass(slots=True)
class Asset:
    asset_id: str
    customer_id: str
    user_id: str
    type: str
    name: str
    original_filename: str
    mime_type: str
    size: int
    storage: Storage
    checksum: str
    duration: float | None = None
    dimensions: Dimensions | None = None
    metadata: Metadata = field(default_factory=Metadata)
    versions: list[Version] = field(default_factory=list)
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    deleted_at: datetime | None = None
    category: str | None = None
    current_version: int = 1
    visibility: Visibility = Visibility.CUSTOMER
    revision: int = 1
    extracted: dict[str, Any] = field(default_factory=dict)
    #: bumped by every soft delete; signed download links carry it, so that a link signed
    #: before a delete never works again, even once the asset is restored
    link_epoch: int = 0

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.version == number), None)

    def to_document(self) -> dict[str, Any]:
        """The stored form: plain JSON types, timestamps as ISO strings."""
        return {
            "asset_id": self.asset_id,
            "customer_id": self.customer_id,
            "user_id": self.user_id,
            "type": self.type,
            "name": self.name,
            "original_filename": self.original_filename,
            "mime_type": self.mime_type,
            "size": self.size,
            "duration": self.duration,
            "dimensions": self.dimensions.to_dict() if self.dimensions else None,
            "storage": dataclasses.asdict(self.storage),
            "metadata": {
                "title": self.metadata.title,
                "description": self.metadata.description,
                "tags": list(self.metadata.tags),
                "folder": self.metadata.folder,
                "custom": dict(self.metadata.custom),
            },
            "versions": [_version_document(v) for v in self.versions],
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "deleted_at": format_time(self.deleted_at),
            "category": self.category,
            "checksum": self.checksum,
            "current_version": self.current_version,
            "visibility": self.visibility.value,
            "revision": self.revision,
            "extracted": dict(self.extracted),
            # only once there is one: records never deleted keep the seed's schema
            **({"link_epoch": self.link_epoch} if self.link_epoch else {}),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Asset:
        meta = doc.get("metadata") or {}
        return cls(
            asset_id=doc["asset_id"],
            customer_id=doc["customer_id"],
            user_id=doc["user_id"],
            type=doc["type"],
            name=doc["name"],
            original_filename=doc["original_filename"],
            mime_type=doc["mime_type"],
            size=int(doc["size"]),
            duration=doc.get("duration"),
            dimensions=_dimensions(doc.get("dimensions")),
            storage=Storage(**doc["storage"]),
            checksum=doc["checksum"],
            metadata=Metadata(
                title=meta.get("title"),
                description=meta.get("description"),
                tags=list(meta.get("tags") or []),
                folder=meta.get("folder") or "/",
                custom=dict(meta.get("custom") or {}),
            ),
            versions=[_version_from_document(v) for v in doc.get("versions") or []],
            created_at=parse_time(doc["created_at"]) or utc_now(),
            updated_at=parse_time(doc["updated_at"]) or utc_now(),
            deleted_at=parse_time(doc.get("deleted_at")),
            category=doc.get("category"),
            current_version=int(doc.get("current_version") or 1),
            visibility=Visibility(doc.get("visibility") or Visibility.CUSTOMER),
            revision=int(doc.get("revision") or 1),
            extracted=dict(doc.get("extracted") or {}),
            link_epoch=int(doc.get("link_epoch") or 0),
        )


def _dimensions(value: dict[str, int] | None) -> Dimensions | None:
    return Dimensions(int(value["width"]), int(value["height"])) if value else None


def _version_document(version: Version) -> dict[str, Any]:
    return {
        "version": version.version,
        "created_at": format_time(version.created_at),
        "size": version.size,
        "storage_key": version.storage_key,
        "checksum": version.checksum,
        "mime_type": version.mime_type,
        "original_filename": version.original_filename,
        "duration": version.duration,
        "dimensions": version.dimensions.to_dict() if version.dimensions else None,
        "extracted": dict(version.extracted),
    }


def _version_from_document(doc: dict[str, Any]) -> Version:
    return Version(
        version=int(doc["version"]),
        created_at=parse_time(doc["created_at"]) or utc_now(),
        size=int(doc["size"]),
        storage_key=doc["storage_key"],
        checksum=doc["checksum"],
        mime_type=doc["mime_type"],
        original_filename=doc["original_filename"],
        duration=doc.get("duration"),
        dimensions=_dimensions(doc.get("dimensions")),
        extracted=dict(doc.get("extracted") or {}),
    )


def bucket_of(asset: Asset, asset_types: dict[str, AssetType]) -> str:
    """Where an asset's blobs live: its type's bucket, or the one its record names when the
    type is no longer configured (a plugin disabled after its assets were stored)."""
    asset_type = asset_types.get(asset.type)
    return asset_type.bucket if asset_type else asset.storage.bucket


def storage_key(customer_id: str, asset_id: str, version: int) -> str:
    """The object key of one version: ``{customer_id}/{asset_id}/v{n}``."""
    return f"{customer_id}/{asset_id}/v{version}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the verified claims of a token."""

    user_id: str
    customer_id: str
    roles: frozenset[Role]

    def has(self, role: Role) -> bool:
        return role in self.roles


# --- resumable upload sessions (tus) ---------------------------------------------------------


class UploadState(enum.StrEnum):
    RECEIVING = "receiving"  # takes bytes at its offset
    COMMITTING = "committing"  # complete; an instance commits it (lease ``tus-commit:{id}``)
    COMMITTED = "committed"  # an asset now: asset_id
    FAILED = "failed"  # the content was refused (error); its bytes are gone
    TERMINATED = "terminated"  # ended by its client; only a tombstone is left


@dataclass(frozen=True, slots=True)
class UploadPart:
    """One stored stretch of a resumable upload: ``size`` bytes in the temp bucket, in a blob
    named by ``nonce`` (see ``engine.tus_storage.part_key``)."""

    size: int
    nonce: str


@dataclass(slots=True)
class UploadSession:
    """A resumable (tus) upload, as the catalog keeps it so that any instance can continue it.
    Every change is a compare-and-set on ``revision``."""

    upload_id: str
    customer_id: str
    user_id: str
    #: the roles the creator had: the commit acts as the creator
    roles: tuple[str, ...]
    #: total bytes; ``None`` until a client that deferred it names it
    length: int | None
    created_at: datetime
    expires_at: datetime
    offset: int = 0
    state: UploadState = UploadState.RECEIVING
    parts: list[UploadPart] = field(default_factory=list)
    #: the ``Upload-Metadata`` header as the client sent it (answered back by ``HEAD``)
    metadata: str = ""
    filename: str = ""
    #: the asset fields the metadata gave (``fields.NewAssetFields``, as a document)
    fields: dict[str, Any] = field(default_factory=dict)
    declared_type: str | None = None
    asset_id: str | None = None
    #: why the content was refused: ``{"kind": error class name, "reason": …}``
    error: dict[str, str] | None = None
    #: the id the asset gets, fixed before the commit starts: a commit taken over after its
    #: instance died makes (or finds) this asset, never a second one
    commit_asset_id: str | None = None
    #: when the commit running now took the upload (state ``committing``): the record's last
    #: write while it commits, so an old one is a commit whose instance may have died
    committing_since: datetime | None = None
    revision: int = 1
    #: tus concatenation: ``partial`` (bytes for a final upload, never an asset by itself),
    #: ``final`` (the partials' bytes, in order, committed as one asset), or ``None``
    concat: str | None = None
    #: a final upload's partial uploads, in order
    partials: list[str] = field(default_factory=list)
    #: a partial upload claimed by this final upload (its bytes are being, or were, committed)
    final_id: str | None = None

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length

    @property
    def principal(self) -> Principal:
        known = {role.value for role in Role}
        roles = frozenset(Role(role) for role in self.roles if role in known)
        return Principal(self.user_id, self.customer_id, roles)

    def to_document(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "customer_id": self.customer_id,
            "user_id": self.user_id,
            "roles": list(self.roles),
            "length": self.length,
            "offset": self.offset,
            "state": self.state.value,
            "parts": [[part.size, part.nonce] for part in self.parts],
            "metadata": self.metadata,
            "filename": self.filename,
            "fields": dict(self.fields),
            "declared_type": self.declared_type,
            "asset_id": self.asset_id,
            "error": dict(self.error) if self.error else None,
            "created_at": format_time(self.created_at),
            "expires_at": format_time(self.expires_at),
            "commit_asset_id": self.commit_asset_id,
            "committing_since": format_time(self.committing_since),
            "revision": self.revision,
            "concat": self.concat,
            "partials": list(self.partials),
            "final_id": self.final_id,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> UploadSession:
        return cls(
            upload_id=doc["upload_id"],
            customer_id=doc["customer_id"],
            user_id=doc["user_id"],
            roles=tuple(doc.get("roles") or ()),
            length=None if doc.get("length") is None else int(doc["length"]),
            offset=int(doc.get("offset") or 0),
            state=UploadState(doc.get("state") or UploadState.RECEIVING),
            parts=[UploadPart(int(size), str(nonce)) for size, nonce in doc.get("parts") or []],
            metadata=doc.get("metadata") or "",
            filename=doc.get("filename") or "",
            fields=dict(doc.get("fields") or {}),
            declared_type=doc.get("declared_type"),
            asset_id=doc.get("asset_id"),
            error=dict(doc["error"]) if doc.get("error") else None,
            created_at=parse_time(doc["created_at"]) or utc_now(),
            expires_at=parse_time(doc["expires_at"]) or utc_now(),
            commit_asset_id=doc.get("commit_asset_id"),
            committing_since=parse_time(doc.get("committing_since")),
            revision=int(doc.get("revision") or 1),
            concat=doc.get("concat"),
            partials=[str(upload_id) for upload_id in doc.get("partials") or []],
            final_id=doc.get("final_id"),
        )
