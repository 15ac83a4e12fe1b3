"""What the API answers, as typed models: the asset record and everything a route returns in
JSON, and the RFC 9457 problem document. Each ``TypedDict`` is one schema of
``#/components/schemas`` (``jsonschema.py`` turns them into JSON Schema)."""

# (no ``from __future__ import annotations``: a TypedDict reads Required/NotRequired at runtime)
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from asset_service.engine import fields as field_rules
from asset_service.engine.model import Visibility as VisibilityValue

from .jsonschema import AssetTypes, Meta, Named

Count = Annotated[int, Meta(minimum=0)]
Bytes = Annotated[int, Meta(minimum=0, description="bytes")]
Seconds = Annotated[float, Meta(minimum=0, description="seconds")]
VersionNumber = Annotated[int, Meta(minimum=1)]
Uuid = Annotated[str, Meta(format="uuid")]
FolderPath = Annotated[str, Meta(examples=["/podcasts/2026"])]

Visibility = Annotated[
    VisibilityValue,
    Meta(
        description="`customer` (the default): every user of the customer; `private`: "
        "the owner and admins only; `public`: downloadable without a token."
    ),
    Named("Visibility"),
]


class Dimensions(TypedDict):
    width: Count
    height: Count


class Storage(TypedDict):
    bucket: str
    key: str
    url: NotRequired[str | None]


class Metadata(TypedDict):
    title: str | None
    description: str | None
    tags: list[str]
    folder: FolderPath
    custom: dict[str, Any]


class AssetVersion(TypedDict):
    """One stored content of an asset, as embedded in the asset."""

    version: VersionNumber
    created_at: datetime
    size: Count
    storage_key: str
    checksum: str
    mime_type: str
    original_filename: str
    duration: NotRequired[Annotated[float, Meta(minimum=0)] | None]
    dimensions: NotRequired[Dimensions | None]


class PreviewVariant(TypedDict):
    """One stored rendering of a preview: a picture's size, or a waveform's peaks file."""

    size: NotRequired[Annotated[int, Meta(description="a picture's longest side")]]
    bytes: NotRequired[Bytes]
    width: NotRequired[Count]
    height: NotRequired[Count]


class Preview(TypedDict):
    """A preview of the asset's current version (``GET /api/assets/{id}/previews/{kind}``)."""

    kind: Annotated[str, Meta(examples=["thumbnail", "poster", "waveform"])]
    status: Literal["pending", "ready", "failed"]
    media_type: Annotated[str, Meta(examples=["image/webp"])]
    reason: NotRequired[Annotated[str, Meta(description="why it failed")]]
    variants: NotRequired[list[PreviewVariant]]


class PreviewPending(TypedDict):
    status: Literal["pending"]
    kind: str
    version: VersionNumber


class Waveform(TypedDict):
    """A waveform preview: min/max peak pairs in -1..1, one per bucket."""

    duration: Seconds
    sample_rate: Count
    peaks: list[list[Annotated[float, Meta(minimum=-1, maximum=1)]]]


class Asset(TypedDict):
    """An asset: the seed's record, plus category, checksum, current version, visibility,
    revision and what extraction found."""

    asset_id: Uuid
    customer_id: str
    user_id: Annotated[str, Meta(description="the uploader")]
    type: Annotated[str, AssetTypes(listed_after="the asset type; here one of: ")]
    name: Annotated[str, Meta(max_length=field_rules.MAX_NAME)]
    original_filename: str
    mime_type: Annotated[str, Meta(description="as detected from the bytes")]
    size: Bytes
    duration: Annotated[float, Meta(minimum=0)] | None
    dimensions: Dimensions | None
    storage: Storage
    metadata: Metadata
    versions: list[AssetVersion]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    category: str | None
    checksum: Annotated[str, Meta(description="SHA-256, hex")]
    current_version: VersionNumber
    visibility: Visibility
    revision: Annotated[
        int, Meta(minimum=1, description='bumped by every change; the `ETag` is `"r<revision>"`')
    ]
    extracted: Annotated[
        dict[str, Any], Meta(description="what the extractors found in the current version")
    ]
    previews: NotRequired[
        Annotated[
            list[Preview],
            Meta(
                description="the current version's previews (wherever the record is shown, "
                "lists too)"
            ),
        ]
    ]


class VersionEntry(TypedDict):
    version: VersionNumber
    created_at: datetime
    size: Count
    checksum: str
    mime_type: NotRequired[str]
    original_filename: NotRequired[str]
    current: bool


class VersionList(TypedDict):
    items: Annotated[list[VersionEntry], Meta(description="newest first")]
    next_cursor: None


class AssetPage(TypedDict):
    items: list[Asset]
    next_cursor: Annotated[str, Meta(description="pass as `cursor` for the next page")] | None


class Folder(TypedDict):
    path: FolderPath
    count: Annotated[int, Meta(minimum=0, description="assets directly in the folder")]


class FolderList(TypedDict):
    items: list[Folder]


class Facet(TypedDict):
    name: str
    count: Annotated[int, Meta(minimum=1)]


class FacetList(TypedDict):
    items: list[Facet]


class Moved(TypedDict):
    moved: Count


class DownloadLink(TypedDict):
    url: Annotated[str, Meta(description="downloads without a token")]
    expires_at: datetime


class Totals(TypedDict):
    count: Count
    size: Bytes
    duration: Seconds


class AudioStats(TypedDict):
    count: Count
    total_size: Bytes
    total_duration: Seconds
    by_format: Annotated[dict[str, Totals], Meta(description="by format (mp3, wav, …)")]
    by_folder: Annotated[dict[str, Totals], Meta(description="by folder path")]


class UploadProgress(TypedDict):
    upload_id: str
    received_bytes: Count
    total_bytes: Annotated[int, Meta(minimum=0, description="null while unknown")] | None
    state: Literal["receiving", "committing", "committed", "failed", "aborted"]
    asset_id: Annotated[str, Meta(format="uuid", description="once committed")] | None
    error: NotRequired[Annotated[str, Meta(description="why it failed, when it did")]]


class Health(TypedDict):
    status: Literal["ok"]


class Readiness(TypedDict):
    status: Literal["ready", "not ready"]
    checks: Annotated[dict[str, str], Meta(description='each backend: "ok" or "error: …"')]


class Problem(TypedDict):
    """An RFC 9457 problem document."""

    type: Annotated[str, Meta(format="uri")]
    title: str
    status: Annotated[int, Meta(minimum=400, maximum=599)]
    detail: Annotated[str, Meta(description="what was wrong, for a person")]
