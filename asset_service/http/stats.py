"""The audio library's totals as the API shows them (REST and GraphQL)."""

from __future__ import annotations

from typing import Any

from asset_service.engine.catalog import Stats, Totals


def totals_json(totals: Totals) -> dict[str, float]:
    return {"count": totals.count, "size": totals.size, "duration": round(totals.duration, 3)}


def stats_json(stats: Stats) -> dict[str, Any]:
    return {
        "count": stats.total.count,
        "total_size": stats.total.size,
        "total_duration": round(stats.total.duration, 3),
        "by_format": {name: totals_json(t) for name, t in sorted(stats.by_format.items())},
        "by_folder": {name: totals_json(t) for name, t in sorted(stats.by_folder.items())},
    }
