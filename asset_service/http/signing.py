"""Signed links of the service's own: to a version's content (``/download``) and to a preview
(``/previews/{kind}``). One HMAC over what the link grants — its purpose, the asset, the version
(or ``current``), the disposition or the preview's kind and size, the expiry and the asset's
link epoch (bumped by every delete) — checked in constant time.

Expiries are rounded up to a window (``ASSET_LINK_WINDOW``): the same request made within one
window is signed for the same expiry, so it is the same URL byte for byte, and browsers and
CDNs keep what they fetched with it (docs/decisions.md, "Links that caches can keep")."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from asset_service.engine.errors import InvalidInput

from .params import parse_decimal
from .problems import HTTPProblem

#: S3's own limit for presigned URLs, and so the longest a link of ours may live
MAX_LINK_LIFETIME = 7 * 24 * 3600
DEFAULT_LINK_WINDOW = 3600
MAX_LINK_WINDOW = 86400
DEFAULT_LINK_EXPIRES = 3600
#: what a link to the current version signs in place of a version number
CURRENT = "current"
#: what a link to a preview without sizes (a waveform) signs in place of the size
NO_SIZE = "-"

Purpose = Literal["download", "preview"]
Clock = Callable[[], float]


def signing_key(secret: str) -> bytes:
    """A key of its own, derived from the configured secret: a signature is never a token.
    (v2: links signed before windows and dispositions were signed no longer verify.)"""
    return hmac.new(secret.encode(), b"asset-service links v2", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Grant:
    """What one link grants. ``version`` ``None``: whichever version is current when the link
    is followed. ``subject``: ``attachment`` or ``inline`` for a download, ``kind/size`` for a
    preview."""

    purpose: Purpose
    asset_id: str
    version: int | None
    subject: str
    expires: int
    epoch: int

    def message(self) -> bytes:
        version = CURRENT if self.version is None else str(self.version)
        fields = (self.purpose, self.asset_id, version, self.subject, self.expires, self.epoch)
        return "\n".join(map(str, fields)).encode()


def preview_subject(kind: str, size: str) -> str:
    return f"{kind}/{size}"


def download_subject(inline: bool) -> str:
    return "inline" if inline else "attachment"


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Signs and checks links against ``clock`` (injectable: tests step it across windows)."""

    key: bytes
    window: int = DEFAULT_LINK_WINDOW
    clock: Clock = field(default=time.time)

    @classmethod
    def from_secret(
        cls, secret: str, window: int = DEFAULT_LINK_WINDOW, clock: Clock = time.time
    ) -> LinkSigner:
        return cls(signing_key(secret), window, clock)

    @property
    def max_expires(self) -> int:
        """The longest ``expires`` a caller may ask for: rounded up to the window, and — for a
        store's presigned URL — signed from the start of the window it is handed out in, a
        link must still end within S3's 7 days."""
        return MAX_LINK_LIFETIME - self.window

    def expires_seconds(self, raw: str | int | None) -> int:
        """``expires`` as asked (default 3600 seconds), or 400."""
        seconds = DEFAULT_LINK_EXPIRES if raw is None else raw
        if isinstance(seconds, str):
            seconds = parse_decimal(seconds)  # type: ignore[assignment]
        if not isinstance(seconds, int) or not 1 <= seconds <= self.max_expires:
            raise InvalidInput(
                f"expires must be 1 to {self.max_expires} seconds (7 days less the link "
                f"window of {self.window} seconds)"
            )
        return seconds

    def expiry(self, seconds: int) -> int:
        """The first window boundary strictly after now + ``seconds``: the same for every
        request of a whole window."""
        return (math.floor(self.clock() + seconds) // self.window + 1) * self.window

    def sign(self, grant: Grant) -> str:
        return hmac.new(self.key, grant.message(), hashlib.sha256).hexdigest()

    def max_age(self, expires: int) -> int:
        """Whole seconds left before ``expires`` (what a cache may keep a response for)."""
        return max(0, math.floor(expires - self.clock()))

    def verify(
        self,
        purpose: Purpose,
        asset_id: str,
        *,
        version: str | None,
        subject: str,
        expires: str | None,
        epoch: str | None,
        signature: str,
    ) -> Grant:
        """The grant the link was signed for, or 403 for a forged, altered or expired link.
        (``version`` absent: a link to the current version.)"""
        number = None if version is None else parse_decimal(version)
        deadline, generation = parse_decimal(expires), parse_decimal(epoch)
        if (version is not None and number is None) or deadline is None or generation is None:
            raise HTTPProblem(403, "Forbidden", "the link is incomplete")
        grant = Grant(purpose, asset_id, number, subject, deadline, generation)
        # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500)
        if not hmac.compare_digest(self.sign(grant).encode(), signature.encode(errors="replace")):
            raise HTTPProblem(403, "Forbidden", "the link's signature is not valid")
        if self.clock() >= deadline:
            raise HTTPProblem(403, "Forbidden", "the link has expired")
        return grant


def link_cache_control(signer: LinkSigner, grant: Grant) -> str:
    """What a response to a link may be kept for: a version's bytes (or a preview of one) never
    change, so until the link expires; a link to the current version is revalidated (ETag)."""
    if grant.version is None:
        return "public, no-cache"
    return f"public, max-age={signer.max_age(grant.expires)}, immutable"
