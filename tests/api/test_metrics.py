"""``/metrics``: the Prometheus text format (HELP and TYPE for every family, escaped label values,
consistent histograms), OpenMetrics when asked for, requests by URL rule and status, labels from
closed sets only (an invented method or path adds no series), upload and download bytes, uploads
in flight, actor queue depths, cleanup results, dropped events, and the optional scrape token."""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import trio

from asset_service.config import Settings
from asset_service.engine.cleanup_actor import PASS_LEASE
from asset_service.engine.events import Event
from asset_service.http.metrics import (
    CONTENT_TYPE,
    OTHER_METHOD,
    UNMATCHED,
    HttpMetrics,
    render,
)
from tests.conftest import start_server

from .helpers import TEXT_BYTES, assert_problem, multipart, multipart_type

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^(?P<name>{_NAME})(?:\{{(?P<labels>.*)\}})? (?P<value>\S+)$")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\\n]|\\\\|\\"|\\n)*)"')


@dataclass
class Family:
    kind: str
    help: str
    samples: list[tuple[str, dict[str, str], float]]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), value)


def parse(text: str) -> dict[str, Family]:
    """A strict reader of the text format (0.0.4): every family has HELP then TYPE, every
    sample belongs to the family declared just before it, labels are well formed."""
    assert text.endswith("\n")
    families: dict[str, Family] = {}
    current: str | None = None
    helps: dict[str, str] = {}
    for line in text.splitlines():
        assert line, "no blank lines"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families and name not in helps, f"{name} described twice"
            helps[name] = help_text
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name in helps, f"TYPE before HELP for {name}"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            families[name] = Family(kind, helps[name], [])
            current = name
            continue
        assert not line.startswith("#"), line
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels_text = match["labels"] or ""
        labels = {m["key"]: _unescape(m["value"]) for m in _LABEL.finditer(labels_text)}
        rebuilt = ",".join(m[0] for m in _LABEL.finditer(labels_text))
        assert rebuilt == labels_text, f"malformed labels: {labels_text!r}"
        name = match["name"]
        assert current is not None
        family = families[current]
        suffixes = ("_bucket", "_sum", "_count") if family.kind == "histogram" else ("",)
        assert any(name == current + s for s in suffixes), f"{name} outside its family"
        family.samples.append((name, labels, float(match["value"])))
    return families


def value(families: dict[str, Family], name: str, **labels: str) -> float:
    family_name = re.sub(r"_(bucket|sum|count)$", "", name) if name not in families else name
    for sample_name, sample_labels, number in families[family_name].samples:
        if sample_name == name and sample_labels == labels:
            return number
    raise KeyError((name, labels))


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[str, Family]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return parse(response.text)


async def eventually(fetch: Any, check: Any) -> None:
    """Poll ``check(await fetch())`` until it holds (10 s at most)."""
    with trio.fail_after(10):
        while True:
            if check(await fetch()):
                return
            await trio.sleep(0.02)


# --- the format --------------------------------------------------------------------------------


def test_escaping_and_numbers():
    """What the strict reader above expects is what the exposition writes: help and label
    values escaped, numbers as Prometheus reads them."""
    metrics = HttpMetrics()
    metrics.observe("GET", '/a"b\\c\nd', 200, 0.25)
    metrics.download_bytes.inc(3)
    text, content_type = render(metrics, None)
    assert content_type == CONTENT_TYPE
    families = parse(text.decode())
    requests = families["asset_http_requests_total"]
    assert requests.samples == [
        ("asset_http_requests_total", {"method": "GET", "route": '/a"b\\c\nd', "status": "200"}, 1)
    ]
    assert '{method="GET",route="/a\\"b\\\\c\\nd",status="200"}' in text.decode()
    assert value(families, "asset_download_bytes_total") == 3
    durations = families["asset_http_request_duration_seconds"].samples
    assert {labels["le"] for name, labels, _ in durations if name.endswith("_bucket")} >= {
        "0.25",
        "+Inf",
    }
    assert (
        value(families, "asset_http_request_duration_seconds_sum", method="GET", route='/a"b\\c\nd')
        == 0.25
    )
    assert not math.isnan(value(families, "asset_http_requests_in_flight"))


async def test_openmetrics_when_asked(client):
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "# TYPE asset_http_requests counter" in response.text


async def test_every_family_is_described_and_consistent(client, auth, create_asset):
    asset = await create_asset()
    await client.get(f"/api/assets/{asset['asset_id']}", headers=auth())
    families = await scrape(client)
    expected = {
        "asset_http_requests_total": "counter",
        "asset_http_request_duration_seconds": "histogram",
        "asset_http_requests_in_flight": "gauge",
        "asset_upload_bytes_total": "counter",
        "asset_upload_committed_bytes_total": "counter",
        "asset_uploads_total": "counter",
        "asset_uploads_in_flight": "gauge",
        "asset_download_bytes_total": "counter",
        "asset_actor_queue_depth": "gauge",
        "asset_actor_queue_capacity": "gauge",
        "asset_cleanup_passes_total": "counter",
        "asset_cleanup_removed_total": "counter",
        "asset_cleanup_errors_total": "counter",
        "asset_cleanup_last_completed_timestamp_seconds": "gauge",
        "asset_events_dropped_total": "counter",
        "asset_events_unlogged_total": "counter",
    }
    assert {name: f.kind for name, f in families.items()} == expected
    for name, family in families.items():
        assert family.help, name
        if family.kind == "counter":
            assert name.endswith("_total"), name
    # each histogram series: cumulative buckets, +Inf equal to _count
    histogram = families["asset_http_request_duration_seconds"]
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, labels, number in histogram.samples:
        key = (labels["method"], labels["route"])
        if name.endswith("_bucket"):
            series.setdefault(key, []).append((float(labels["le"]), number))
    assert series
    for key, buckets in series.items():
        bounds = [bound for bound, _ in buckets]
        counts = [count for _, count in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf, key
        assert counts == sorted(counts), key
        count = value(
            families, "asset_http_request_duration_seconds_count", method=key[0], route=key[1]
        )
        assert counts[-1] == count, key
    assert value(families, "asset_http_requests_in_flight") == 1  # this scrape


async def test_requests_by_url_rule_and_status_and_no_ids(client, auth, create_asset):
    asset = await create_asset()
    asset_url = f"/api/assets/{asset['asset_id']}"
    for _ in range(3):
        assert (await client.get(asset_url, headers=auth())).status_code == 200
    missing = "/api/assets/00000000-0000-4000-8000-000000000000"
    assert (await client.get(missing, headers=auth())).status_code == 404
    assert (await client.get(asset_url)).status_code == 401
    assert (await client.get("/no/such/route")).status_code == 404
    assert (await client.delete("/healthz")).status_code == 405
    response = await client.get("/metrics")
    families = parse(response.text)
    rule = "/api/assets/<asset_id>"
    requests = "asset_http_requests_total"
    assert value(families, requests, method="GET", route=rule, status="200") == 3
    assert value(families, requests, method="GET", route=rule, status="404") == 1
    assert value(families, requests, method="GET", route=rule, status="401") == 1
    assert value(families, requests, method="POST", route="/api/assets/upload", status="201") == 1
    assert value(families, requests, method="GET", route="unmatched", status="404") == 1
    assert value(families, requests, method="DELETE", route="unmatched", status="405") == 1
    assert (
        value(families, "asset_http_request_duration_seconds_count", method="GET", route=rule) == 5
    )
    # labelled by rule: no asset id (nor customer) in any label
    assert not UUID.search(response.text)
    assert "acme" not in response.text


async def test_upload_and_download_bytes(client, auth, create_asset):
    before = await scrape(client)
    asset = await create_asset(TEXT_BYTES)
    url = f"/api/assets/{asset['asset_id']}/download"
    assert (await client.get(url, headers=auth())).content == TEXT_BYTES
    ranged = await client.get(url, headers={**auth(), "Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert (await client.head(url, headers=auth())).status_code == 200  # sends no content
    unknown = b"\x00\x01 not a known type" * 10
    refused = await client.post(
        "/api/assets/upload",
        headers=auth(),
        files={"file": ("x.bin", unknown, "application/octet-stream")},
    )
    assert refused.status_code == 415
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("asset_upload_bytes_total") == len(TEXT_BYTES) + len(unknown)
    assert delta("asset_upload_committed_bytes_total") == len(TEXT_BYTES)
    assert delta("asset_uploads_total", outcome="committed") == 1
    assert delta("asset_uploads_total", outcome="failed") == 1
    assert delta("asset_download_bytes_total") == len(TEXT_BYTES) + 100


async def test_uploads_in_flight(client, auth, base_url):
    release = trio.Event()
    sent_head = trio.Event()
    body = multipart([])  # only the closing boundary
    head = (
        b"--test-boundary-7d1c3a9e\r\n"
        b'Content-Disposition: form-data; name="file"; filename="slow.txt"\r\n\r\n'
    )

    async def slow_body() -> AsyncIterator[bytes]:
        yield head + TEXT_BYTES
        sent_head.set()
        await release.wait()
        yield b"\r\n" + body

    result: dict[str, Any] = {}

    async def upload() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as other:
            result["response"] = await other.post(
                "/api/assets/upload",
                headers={**auth(), "Content-Type": multipart_type()},
                content=slow_body(),
            )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(upload)
        await sent_head.wait()
        await eventually(lambda: scrape(client), lambda f: value(f, "asset_uploads_in_flight") == 1)
        release.set()
    assert result["response"].status_code == 201, result["response"].text
    assert value(await scrape(client), "asset_uploads_in_flight") == 0


async def test_actor_queue_depths(client, engine):
    families = await scrape(client)
    for actor in ("upload", "versioning", "cleanup", "previews"):
        assert value(families, "asset_actor_queue_depth", actor=actor) == 0
        assert value(families, "asset_actor_queue_capacity", actor=actor) >= 1
    # Another instance holds the pass lease: the first pass waits for it inside the actor,
    # and the second request waits in the mailbox.
    assert await engine.catalog.acquire_lease(PASS_LEASE, "another-instance", 60)
    reports = []

    async def run_pass() -> None:
        reports.append(await engine.run_cleanup(wait_for_lease=True))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_pass)
        nursery.start_soon(run_pass)
        await eventually(trio.lowlevel.checkpoint, lambda _: engine.queue_depths()["cleanup"] == 1)
        families = await scrape(client)
        assert value(families, "asset_actor_queue_depth", actor="cleanup") == 1
        await engine.catalog.release_lease(PASS_LEASE, "another-instance")
    assert len(reports) == 2
    assert value(await scrape(client), "asset_actor_queue_depth", actor="cleanup") == 0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Trash is purged by the next pass (for the cleanup counters)."""
    return replace(settings, trash_retention=0)


async def test_cleanup_results(client, auth, create_asset, engine):
    families = await scrape(client)
    assert value(families, "asset_cleanup_passes_total", outcome="completed") == 0
    assert families["asset_cleanup_last_completed_timestamp_seconds"].samples == []
    doomed = await create_asset()
    response = await client.delete(f"/api/assets/{doomed['asset_id']}", headers=auth())
    assert response.status_code == 204
    report = await engine.run_cleanup()
    assert report.purged == 1
    await engine.run_cleanup()
    families = await scrape(client)
    assert value(families, "asset_cleanup_passes_total", outcome="completed") == 2
    assert value(families, "asset_cleanup_passes_total", outcome="failed") == 0
    assert value(families, "asset_cleanup_removed_total", kind="purged") == 1
    assert value(families, "asset_cleanup_removed_total", kind="orphans") == 0
    assert value(families, "asset_cleanup_last_completed_timestamp_seconds") > 0


async def test_dropped_events(client, engine):
    async with engine.hub.subscribe() as _never_read:
        for n in range(300):
            engine.hub.publish(Event("asset.updated", "acme", {"n": n}))
    assert value(await scrape(client), "asset_events_dropped_total") == engine.hub.dropped > 0


async def test_events_the_log_refuses_are_counted_and_still_delivered_here(
    client, engine, monkeypatch
):
    async def refuse(events: Any, now: float) -> list[str]:
        raise ConnectionError("the catalog is down")

    monkeypatch.setattr(engine.events.log, "append_events", refuse)
    async with engine.events.subscribe() as stream:
        event = Event("asset.updated", "acme", {"n": 1})
        engine.hub.publish(event)
        with trio.fail_after(5):
            delivered = await stream.__anext__()
    assert delivered.event is event and not delivered.in_log
    assert value(await scrape(client), "asset_events_unlogged_total") == 1


async def test_metrics_token(engine, settings, nursery):
    base = await start_server(nursery, engine, replace(settings, metrics_token="scrape-me"))
    async with httpx.AsyncClient(base_url=base) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me"}):
            response = await client.get("/metrics", headers=headers)
            assert_problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        families = await scrape(client, Authorization="Bearer scrape-me")
        # the refused scrapes are counted too
        assert (
            value(
                families, "asset_http_requests_total", method="GET", route="/metrics", status="401"
            )
            == 3
        )
        # a JWT is not the metrics token
        assert (await client.get("/healthz")).status_code == 200


async def test_invented_methods_and_paths_add_no_series(client, base_url):
    """Issue: 200 requests with 8 000-byte invented methods took ``/metrics`` from 66 KB to
    31 MB. Every label now comes from a closed set: the second hundred adds no series, and
    the whole lot adds a bounded number of bytes (the ``other`` and ``unmatched`` series)."""
    rng = random.Random(13)

    def invented_method() -> str:
        return "".join(rng.choices(string.ascii_uppercase, k=8000))

    def random_path() -> str:
        noise = "".join(rng.choices(string.ascii_lowercase + string.digits, k=40))
        return rng.choice([f"/{noise}", f"/api/assets/{noise}", f"/api/{noise}/download"])

    def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {
            (name, tuple(sorted(labels.items())))
            for family in parse(text).values()
            for name, labels, _ in family.samples
        }

    async def invent(count: int) -> None:
        async with httpx.AsyncClient(base_url=base_url) as other:
            for _ in range(count):
                response = await other.request(invented_method(), random_path())
                assert 400 <= response.status_code < 500, response.status_code

    before = (await client.get("/metrics")).text
    await invent(100)
    half = (await client.get("/metrics")).text
    await invent(100)
    after = (await client.get("/metrics")).text
    assert series(after) == series(half)
    assert len(after) - len(before) < 8 * 1024, (len(before), len(after))
    labels = [dict(key) for _, key in series(after)]
    assert max(len(v) for key in labels for v in key.values()) < 100  # no method, no path
    requests = parse(after)["asset_http_requests_total"].samples
    invented = sum(n for _, labels, n in requests if labels["method"] == OTHER_METHOD)
    assert invented == 200
    assert {labels["route"] for _, labels, _ in requests if labels["method"] == OTHER_METHOD} == {
        UNMATCHED
    }
