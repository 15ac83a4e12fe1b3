"""``/metrics``: counters kept by the HTTP layer and the engine, in the Prometheus text
exposition format (version 0.0.4), written here rather than pulling in a client library.

Requests are counted and timed by an ASGI middleware around the app, from the first byte in to
the last byte out (a long download is timed whole), and labelled with the URL rule that matched
(``/api/assets/<asset_id>``), never the raw path: one time series per route, whatever ids are
asked for, and no asset id or customer in any label. Requests no rule matched share the route
label ``unmatched``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent

from asset_service.engine import MAILBOX_SIZE, AssetEngine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: where the view's URL rule is left in the ASGI scope for the middleware
ROUTE_KEY = "asset_service.route"
UNMATCHED = "unmatched"
#: seconds; uploads and downloads of large files take minutes
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(slots=True)
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(DURATION_BUCKETS):
            if value <= bound:
                self.buckets[index] += 1
        self.total += value
        self.count += 1


@dataclass(slots=True)
class HttpMetrics:
    """What the HTTP layer counts (the engine counts the rest). Trio runs one thread: plain
    integers need no lock."""

    #: (method, route, status) -> requests answered
    requests: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    #: (method, route) -> durations
    durations: dict[tuple[str, str], _Histogram] = field(
        default_factory=lambda: defaultdict(_Histogram)
    )
    in_flight: int = 0
    #: content bytes sent by downloads (with a token, public, or through a signed link)
    download_bytes: int = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, str(status))] += 1
        self.durations[(method, route)].observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request of the wrapped ASGI app."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None
        started = time.perf_counter()

        async def send_noting_status(message: ASGISendEvent) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.in_flight -= 1
            if status is not None:  # a request abandoned before any answer is not counted
                self.metrics.observe(
                    scope.get("method", "GET"),
                    scope.get(ROUTE_KEY, UNMATCHED),
                    status,
                    time.perf_counter() - started,
                )


# --- the text format ---------------------------------------------------------------------------


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


Sample = tuple[str, dict[str, str], float]


class Exposition:
    """Metric families, each with its HELP and TYPE lines, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        self.lines.append(f"# HELP {name} {escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            label_text = ",".join(
                f'{key}="{escape_label_value(str(val))}"' for key, val in labels.items()
            )
            braces = f"{{{label_text}}}" if label_text else ""
            self.lines.append(f"{name}{suffix}{braces} {format_value(value)}")

    def single(self, name: str, kind: str, help_text: str, value: float) -> None:
        self.family(name, kind, help_text, [("", {}, value)])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _histogram_samples(durations: dict[tuple[str, str], _Histogram]) -> Iterable[Sample]:
    for (method, route), histogram in sorted(durations.items()):
        labels = {"method": method, "route": route}
        for bound, count in zip(DURATION_BUCKETS, histogram.buckets, strict=True):
            yield "_bucket", {**labels, "le": format_value(float(bound))}, count
        yield "_bucket", {**labels, "le": "+Inf"}, histogram.count
        yield "_sum", labels, histogram.total
        yield "_count", labels, histogram.count


def render(metrics: HttpMetrics, engine: AssetEngine) -> str:
    out = Exposition()
    out.family(
        "asset_http_requests_total",
        "counter",
        "HTTP requests answered, by method, route (the URL rule) and status.",
        (
            ("", {"method": m, "route": r, "status": s}, n)
            for (m, r, s), n in sorted(metrics.requests.items())
        ),
    )
    out.family(
        "asset_http_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to its response's last byte, by method and route.",
        _histogram_samples(metrics.durations),
    )
    out.single(
        "asset_http_requests_in_flight",
        "gauge",
        "HTTP requests being answered now (this scrape included).",
        metrics.in_flight,
    )

    uploads = engine.upload_totals()
    out.single(
        "asset_upload_bytes_total",
        "counter",
        "File bytes received by uploads, whether the upload was then kept or refused.",
        uploads.received_bytes,
    )
    out.single(
        "asset_upload_committed_bytes_total",
        "counter",
        "File bytes of the uploads that became an asset or a version.",
        uploads.committed_bytes,
    )
    out.family(
        "asset_uploads_total",
        "counter",
        "Uploads finished, by outcome: committed, failed (refused or in error), aborted "
        "(the client went away or the server stopped).",
        (
            ("", {"outcome": "committed"}, uploads.committed),
            ("", {"outcome": "failed"}, uploads.failed),
            ("", {"outcome": "aborted"}, uploads.aborted),
        ),
    )
    out.single(
        "asset_uploads_in_flight",
        "gauge",
        "Uploads being received or committed now.",
        engine.uploads_in_flight(),
    )
    out.single(
        "asset_download_bytes_total",
        "counter",
        "Content bytes sent by downloads (with a token, of public assets, or by signed links).",
        metrics.download_bytes,
    )

    depths = engine.queue_depths()
    out.family(
        "asset_actor_queue_depth",
        "gauge",
        "Messages waiting for an engine actor: in its mailbox, plus callers blocked on a full one.",
        (("", {"actor": actor}, depth) for actor, depth in sorted(depths.items())),
    )
    out.family(
        "asset_actor_queue_capacity",
        "gauge",
        "Size of each engine actor's mailbox.",
        (("", {"actor": actor}, MAILBOX_SIZE) for actor in sorted(depths)),
    )

    cleanup = engine.cleanup_totals()
    out.family(
        "asset_cleanup_passes_total",
        "counter",
        "Cleanup passes run by this process, by outcome: completed, skipped (another instance "
        "held the lease or the period), failed.",
        (
            ("", {"outcome": "completed"}, cleanup.completed),
            ("", {"outcome": "skipped"}, cleanup.skipped),
            ("", {"outcome": "failed"}, cleanup.failed),
        ),
    )
    out.family(
        "asset_cleanup_removed_total",
        "counter",
        "What completed cleanup passes removed, by kind: upload_sessions (expired resumable "
        "uploads), temp (abandoned temporary uploads), incomplete (unfinished writes), purged "
        "(soft-deleted assets past retention), orphans (blobs no record points to).",
        (
            ("", {"kind": "upload_sessions"}, cleanup.uploads_expired),
            ("", {"kind": "temp"}, cleanup.temp_removed),
            ("", {"kind": "incomplete"}, cleanup.incomplete_removed),
            ("", {"kind": "purged"}, cleanup.purged),
            ("", {"kind": "orphans"}, cleanup.orphans_removed),
        ),
    )
    out.single(
        "asset_cleanup_errors_total",
        "counter",
        "Errors reported by completed cleanup passes.",
        cleanup.errors,
    )
    out.family(
        "asset_cleanup_last_completed_timestamp_seconds",
        "gauge",
        "Unix time the last completed cleanup pass of this process ended (absent before one).",
        [] if cleanup.last_completed_at is None else [("", {}, cleanup.last_completed_at)],
    )
    out.single(
        "asset_events_dropped_total",
        "counter",
        "Events a slow subscriber (a WebSocket client, a plugin) did not get because its "
        "buffer was full.",
        engine.hub.dropped,
    )
    return out.text()
