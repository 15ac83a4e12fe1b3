"""``/metrics``: what the HTTP layer and the engine count, exposed with ``prometheus_client``
(its text format, or OpenMetrics when the scraper asks for it).

Requests are counted and timed by an ASGI middleware around the app, from the first byte in to
the last byte out (a long download is timed whole). Every label comes from a closed set, so that
no request can add a series: the method is one of ``KNOWN_METHODS`` or ``other``, the route is
the URL rule that matched (``/api/assets/<asset_id>``, never the raw path; ``unmatched`` when
none did), the status is one the app answered. No asset id or customer is in any label.

Each app has its own registry (several apps in one process, as in the tests, don't collide);
the engine's figures are read at scrape time by ``EngineCollector``. See docs/decisions.md
(metrics) for multiprocess mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import disable_created_metrics as _disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asset_service.engine import MAILBOX_SIZE, AssetEngine

#: what a scraper that states no preference gets
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: where the view's URL rule is left in the ASGI scope for the middleware
ROUTE_KEY = "asset_service.route"
UNMATCHED = "unmatched"
#: the method label of any other method (an invented one must not become a series)
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: seconds; uploads and downloads of large files take minutes
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# Each counter would otherwise get a ``_created`` series beside it, doubling the series for a
# value Prometheus does not read from the text format.
_disable_created_metrics()


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


class HttpMetrics:
    """What the HTTP layer counts (the engine counts the rest), in the app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "asset_http_requests",
            "HTTP requests answered, by method, route (the URL rule) and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.durations = Histogram(
            "asset_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, by method and route.",
            ("method", "route"),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "asset_http_requests_in_flight",
            "HTTP requests being answered now (this scrape included).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.download_bytes = Counter(
            "asset_download_bytes",
            "Content bytes sent by downloads (with a token, of public assets, or by signed links).",
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method_label(method)
        self.requests.labels(method, route, str(status)).inc()
        self.durations.labels(method, route).observe(seconds)

    def watch(self, engine: AssetEngine) -> None:
        """Expose the engine's figures too (read when scraped)."""
        self.registry.register(EngineCollector(engine))


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

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.in_flight.dec()
            if status is not None:  # a request abandoned before any answer is not counted
                self.metrics.observe(
                    scope.get("method", "GET"),
                    scope.get(ROUTE_KEY, UNMATCHED),
                    status,
                    time.perf_counter() - started,
                )


def render(metrics: HttpMetrics, accept: str | None) -> tuple[bytes, str]:
    """The exposition the ``Accept`` header asks for (the text format by default), and its
    content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(metrics.registry), content_type


class EngineCollector(Collector):
    """The engine's own counters and gauges, read from it at each scrape."""

    def __init__(self, engine: AssetEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self.engine
        uploads = engine.upload_totals()
        yield CounterMetricFamily(
            "asset_upload_bytes",
            "File bytes received by uploads, whether the upload was then kept or refused.",
            value=uploads.received_bytes,
        )
        yield CounterMetricFamily(
            "asset_upload_committed_bytes",
            "File bytes of the uploads that became an asset or a version.",
            value=uploads.committed_bytes,
        )
        outcomes = CounterMetricFamily(
            "asset_uploads",
            "Uploads finished, by outcome: committed, failed (refused or in error), aborted "
            "(the client went away or the server stopped).",
            labels=("outcome",),
        )
        outcomes.add_metric(("committed",), uploads.committed)
        outcomes.add_metric(("failed",), uploads.failed)
        outcomes.add_metric(("aborted",), uploads.aborted)
        yield outcomes
        yield GaugeMetricFamily(
            "asset_uploads_in_flight",
            "Uploads being received or committed now.",
            value=engine.uploads_in_flight(),
        )

        depths = engine.queue_depths()
        depth = GaugeMetricFamily(
            "asset_actor_queue_depth",
            "Messages waiting for an engine actor: in its mailbox, plus callers blocked on a "
            "full one.",
            labels=("actor",),
        )
        capacity = GaugeMetricFamily(
            "asset_actor_queue_capacity", "Size of each engine actor's mailbox.", labels=("actor",)
        )
        for actor, waiting in sorted(depths.items()):
            depth.add_metric((actor,), waiting)
            capacity.add_metric((actor,), MAILBOX_SIZE)
        yield depth
        yield capacity

        cleanup = engine.cleanup_totals()
        passes = CounterMetricFamily(
            "asset_cleanup_passes",
            "Cleanup passes run by this process, by outcome: completed, skipped (another "
            "instance held the lease or the period), failed.",
            labels=("outcome",),
        )
        passes.add_metric(("completed",), cleanup.completed)
        passes.add_metric(("skipped",), cleanup.skipped)
        passes.add_metric(("failed",), cleanup.failed)
        yield passes
        removed = CounterMetricFamily(
            "asset_cleanup_removed",
            "What completed cleanup passes removed, by kind: upload_sessions (expired resumable "
            "uploads), temp (abandoned temporary uploads), incomplete (unfinished writes), "
            "purged (soft-deleted assets past retention), orphans (blobs no record points to), "
            "spool (stale local spool files of S3 uploads).",
            labels=("kind",),
        )
        removed.add_metric(("upload_sessions",), cleanup.uploads_expired)
        removed.add_metric(("temp",), cleanup.temp_removed)
        removed.add_metric(("incomplete",), cleanup.incomplete_removed)
        removed.add_metric(("purged",), cleanup.purged)
        removed.add_metric(("orphans",), cleanup.orphans_removed)
        removed.add_metric(("spool",), cleanup.spool_removed)
        yield removed
        yield CounterMetricFamily(
            "asset_cleanup_errors",
            "Errors reported by completed cleanup passes.",
            value=cleanup.errors,
        )
        last = GaugeMetricFamily(
            "asset_cleanup_last_completed_timestamp_seconds",
            "Unix time the last completed cleanup pass of this process ended (absent before one).",
        )
        if cleanup.last_completed_at is not None:
            last.add_metric((), cleanup.last_completed_at)
        yield last
        yield CounterMetricFamily(
            "asset_events_dropped",
            "Events a slow in-process subscriber did not get because its buffer was full, plus "
            "WebSocket clients closed (1013) for falling 1024 events behind.",
            value=engine.hub.dropped + engine.events.dropped,
        )
        yield CounterMetricFamily(
            "asset_events_unlogged",
            "Events the shared event log refused (or had no room for): delivered to this "
            "instance's WebSocket clients only.",
            value=engine.events.unlogged,
        )
