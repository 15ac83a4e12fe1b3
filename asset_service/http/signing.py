"""Signed download URLs for blob stores that can't presign (the filesystem store): an HMAC over
the asset, the version, the expiry time and the asset's link epoch (bumped by every delete),
checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time

from .params import parse_decimal
from .problems import HTTPProblem

#: S3's own limit for presigned URLs
MAX_EXPIRES = 7 * 24 * 3600


def signing_key(secret: str) -> bytes:
    """A key of its own, derived from the configured secret: a signature is never a token."""
    return hmac.new(secret.encode(), b"asset-service download links v1", hashlib.sha256).digest()


def sign(key: bytes, asset_id: str, version: int, expires: int, epoch: int = 0) -> str:
    # (epoch 0 signs what links did before epochs existed: those stay valid until they expire)
    message = f"{asset_id}\n{version}\n{expires}" + (f"\n{epoch}" if epoch else "")
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def verify(
    key: bytes,
    asset_id: str,
    version: str | None,
    expires: str | None,
    signature: str,
    epoch: str | None = None,
) -> tuple[int, int]:
    """The signed version number and link epoch, or 403 for a forged, altered or expired
    link."""
    number, deadline = parse_decimal(version), parse_decimal(expires)
    generation = 0 if epoch is None else parse_decimal(epoch)
    if number is None or deadline is None or generation is None:
        raise HTTPProblem(403, "Forbidden", "the link is incomplete")
    expected = sign(key, asset_id, number, deadline, generation)
    # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500)
    if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
        raise HTTPProblem(403, "Forbidden", "the link's signature is not valid")
    if deadline < time.time():
        raise HTTPProblem(403, "Forbidden", "the link has expired")
    return number, generation
