"""Download links that work without a token: the blob store's own presigned URL when it has
one, otherwise the service's signed ``/download`` URL. One builder for REST and GraphQL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from asset_service.engine import AssetEngine, Principal
from asset_service.engine.errors import InvalidInput

from . import signing

DEFAULT_LINK_EXPIRES = 3600


@dataclass(frozen=True, slots=True)
class LinkBuilder:
    engine: AssetEngine
    signing_secret: str
    #: what links start with: the configured public URL, or empty for relative links
    base_url: str = ""

    async def link(
        self,
        principal: Principal,
        asset_id: str,
        version_number: int | None,
        seconds: int | None = None,
    ) -> tuple[str, str]:
        """The URL and its expiry (ISO 8601) for the caller's view of the asset's version."""
        seconds = DEFAULT_LINK_EXPIRES if seconds is None else seconds
        if not 1 <= seconds <= signing.MAX_EXPIRES:
            raise InvalidInput(f"expires must be 1 to {signing.MAX_EXPIRES} seconds")
        asset, version = await self.engine.content(principal, asset_id, version_number)
        expires_at = int(time.time()) + seconds
        expiry = datetime.fromtimestamp(expires_at, UTC).isoformat()
        native = await self.engine.presigned_url(asset, version, seconds, version.original_filename)
        if native is not None:
            return native, expiry
        # the asset's link epoch: every delete bumps it, so that links signed before a delete
        # never work again, even after a restore (epoch 0, before any delete, is left out)
        epoch = asset.link_epoch
        key = signing.signing_key(self.signing_secret)
        query = urlencode(
            {
                "version": version.version,
                "expires": expires_at,
                **({"epoch": epoch} if epoch else {}),
                "signature": signing.sign(key, asset.asset_id, version.version, expires_at, epoch),
            }
        )
        base = self.base_url.rstrip("/")
        return f"{base}/api/assets/{asset.asset_id}/download?{query}", expiry
