"""Waiting for the preview actor in tests that compare what is stored before and after: a
preview being written is a partial write for a moment, and its blobs appear after the upload
was answered. Told by the events, never by polling; bounded."""

from __future__ import annotations

import trio

from asset_service.engine import AssetEngine
from asset_service.engine.preview_types import PreviewStates


async def previews_idle(engine: AssetEngine) -> None:
    """Until no preview is pending anywhere (a pending state is stored before its version is
    committed and turns ready or failed only once its blobs are written)."""
    states = engine.catalog
    if not isinstance(states, PreviewStates) or not engine.previews.enabled:
        return
    with trio.fail_after(60):
        async with engine.hub.subscribe() as events:
            while await states.pending_previews(limit=1):
                async for event in events:
                    if event.name.startswith("asset.preview_"):
                        break
