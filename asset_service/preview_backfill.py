"""``asset-service previews --missing``: make the previews that are missing, for assets
stored before previews existed or before their plugin offered one.

It walks every asset in id order and makes, version by version, each preview the type offers
that has no state or a pending one (waiting for it: the preview actor's concurrency and
timeout apply). Idempotent: a version whose previews are ready or failed is skipped, so a run
that was interrupted is simply started again. A bar redrawn in place on a terminal, a line
per asset otherwise, and a JSON summary on stdout at the end.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TextIO

import trio

from .config import ConfigError, Settings

BAR_WIDTH = 24


def _line(done: int, total: int, ready: int, failed: int) -> str:
    filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"[{bar}] {done}/{total} assets, {ready} previews made, {failed} failed"


async def make_missing(settings: Settings, stream: TextIO) -> dict[str, int]:
    from .wiring import running_engine

    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    async with running_engine(settings, scheduled_cleanup=False) as engine:
        if not engine.previews.enabled:
            raise ConfigError("previews are turned off (ASSET_PREVIEWS=off): nothing to make")
        total = await engine.previews.count_assets()
        summary: dict[str, int] = {"assets_seen": 0, "versions_done": 0, "ready": 0, "failed": 0}
        done = 0
        try:
            async for asset, report in engine.previews.make_missing():
                done += 1
                summary = asdict(report)
                line = _line(done, total, report.ready, report.failed)
                stream.write(f"\r{line}" if tty else f"{line} ({asset.asset_id})\n")
                stream.flush()
        finally:
            if tty:
                stream.write("\n")
        return summary


def run_missing(settings: Settings) -> int:
    summary = trio.run(make_missing, settings, sys.stderr)
    print(json.dumps(summary))
    return 0
