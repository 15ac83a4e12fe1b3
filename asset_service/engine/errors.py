"""Domain errors. The engine raises these; the HTTP layer maps each class to one status in
one place (``asset_service.http.problems``), so no engine code knows about HTTP."""

from __future__ import annotations


class AssetServiceError(Exception):
    """Base class: ``reason`` is a sentence a user of the API can act on."""

    title = "Asset service error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInput(AssetServiceError):
    title = "Invalid input"


class NotFound(AssetServiceError):
    title = "Not found"


class Forbidden(AssetServiceError):
    title = "Forbidden"


class PayloadTooLarge(AssetServiceError):
    title = "Payload too large"


class UnsupportedContent(AssetServiceError):
    """The bytes are of no type this service stores, or not of the type the client asked for."""

    title = "Unsupported media type"


class UnprocessableContent(AssetServiceError):
    """The bytes are of a known type but broken, truncated or dangerous."""

    title = "Unprocessable content"


class PreconditionFailed(AssetServiceError):
    title = "Precondition failed"


class Conflict(AssetServiceError):
    title = "Conflict"


class EngineStopped(AssetServiceError):
    title = "Service shutting down"


class OffsetMismatch(Conflict):
    """A resumable upload's bytes were sent for an offset it is not at."""

    title = "Offset mismatch"


class TooManyUploads(AssetServiceError):
    """The customer has as many resumable uploads open as it may."""

    title = "Too many open uploads"


class Gone(AssetServiceError):
    """A resumable upload that was terminated, expired, or whose content was refused."""

    title = "Gone"


class ChecksumMismatch(AssetServiceError):
    """The bytes of a request do not match the checksum it announced (they are discarded)."""

    title = "Checksum mismatch"
