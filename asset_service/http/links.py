"""Links that work without a token: to a version's content — the blob store's own presigned
URL when it has one, otherwise the service's signed ``/download`` URL — and to a preview. One
builder for REST and GraphQL, over the one signer (``signing.LinkSigner``): the same request
within a link window gets the same URL, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from asset_service.engine import AssetEngine, Principal
from asset_service.engine.content_safety import content_disposition

from .signing import (
    NO_SIZE,
    Grant,
    LinkSigner,
    download_subject,
    preview_subject,
)


def iso(expires_at: int) -> str:
    return datetime.fromtimestamp(expires_at, UTC).isoformat()


@dataclass(frozen=True, slots=True)
class LinkBuilder:
    engine: AssetEngine
    signer: LinkSigner
    #: what links start with: the configured public URL, or empty for relative links
    base_url: str = ""

    async def link(
        self,
        principal: Principal,
        asset_id: str,
        version_number: int | None,
        seconds: int | None = None,
        *,
        inline: bool = False,
    ) -> tuple[str, str]:
        """The URL and its expiry (ISO 8601) for the caller's view of the asset's version
        (``None``: a link that follows the current version). ``inline`` is signed into the
        link: the download is then shown inline where its type allows it."""
        seconds = self.signer.expires_seconds(seconds)
        asset, version = await self.engine.content(principal, asset_id, version_number)
        expires_at = self.signer.expiry(seconds)
        # Signed from the first moment this same URL is handed out (now or earlier in the
        # window), so the store's URL is stable for the window too; it lives seconds + window,
        # within S3's 7 days by ``max_expires``.
        native = await self.engine.presigned_url(
            asset,
            version,
            signed_at=expires_at - seconds - self.signer.window,
            expires_at=expires_at,
            headers={
                # a store's URL is always an attachment: it cannot add nosniff nor the CSP
                # sandbox that make inline content safe (README, "Served content")
                "Content-Disposition": content_disposition(version.original_filename, inline=False),
                # the key names one version's bytes: they never change, and no cache may keep
                # them past the link's expiry
                "Cache-Control": "public, immutable",
                "Expires": formatdate(expires_at, usegmt=True),
            },
        )
        if native is not None:
            return native, iso(expires_at)
        # the asset's link epoch: every delete bumps it, so that links signed before a delete
        # never work again, even after a restore
        grant = Grant(
            "download",
            asset.asset_id,
            version_number,
            download_subject(inline),
            expires_at,
            asset.link_epoch,
        )
        query: dict[str, Any] = {}
        if version_number is not None:
            query["version"] = version_number
        if inline:
            query["inline"] = 1
        query |= {"expires": expires_at, "epoch": grant.epoch, "signature": self.signer.sign(grant)}
        return self._url(f"/api/assets/{asset.asset_id}/download", query), iso(expires_at)

    def preview_link(
        self, asset_id: str, version: int, kind: str, size: str, epoch: int, seconds: int
    ) -> tuple[str, str]:
        """A link to one preview of one version (``size``: ``NO_SIZE`` for a waveform): a
        version's preview never changes, so it is always pinned to its version."""
        expires_at = self.signer.expiry(seconds)
        grant = Grant("preview", asset_id, version, preview_subject(kind, size), expires_at, epoch)
        query: dict[str, Any] = {"version": version}
        if size != NO_SIZE:
            query["size"] = size
        query |= {"expires": expires_at, "epoch": epoch, "signature": self.signer.sign(grant)}
        return self._url(f"/api/assets/{asset_id}/previews/{kind}", query), iso(expires_at)

    def _url(self, path: str, query: dict[str, Any]) -> str:
        # ASSET_PUBLIC_URL, or a relative link: never the request's Host
        return f"{self.base_url.rstrip('/')}{path}?{urlencode(query)}"
