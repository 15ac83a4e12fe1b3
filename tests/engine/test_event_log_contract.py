"""Contract of the event log (``EventLog``), run against every adapter: the SQLite catalog, the
MongoDB catalog (mongomock, nx-27017 over the wire, a real server when set) and the in-memory
log. Ids increase in append order across every handle on the one log, reads page by id, an
upload's latest progress is found by customer and upload id, and pruning keeps both the
recent events and the newest ``keep_last``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import trio

from asset_service.engine.adapters.mongo import MongoCatalog
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.event_log import EventLog, MemoryEventLog, parse_event_id
from asset_service.engine.events import Event

from .conftest import needs_real_mongo

LOGS = [
    "sqlite_catalog",
    "mongomock_catalog",
    "nx_catalog",
    pytest.param("mongo_catalog", marks=needs_real_mongo),
    "memory_event_log",
]


@pytest.fixture
def memory_event_log() -> MemoryEventLog:
    return MemoryEventLog()


@pytest.fixture(params=LOGS)
def event_log(request: pytest.FixtureRequest) -> EventLog:
    return request.getfixturevalue(request.param)


def progress(upload_id: str, received: int, customer: str = "acme") -> Event:
    data = {"upload_id": upload_id, "received_bytes": received, "state": "receiving"}
    return Event("upload.progress", customer, data, owner="alice")


def created(n: int, customer: str = "acme") -> Event:
    return Event("asset.created", customer, {"asset_id": f"a{n}", "n": n})


async def test_every_catalog_keeps_an_event_log(sqlite_catalog, mongomock_catalog):
    assert isinstance(sqlite_catalog, EventLog)
    assert isinstance(mongomock_catalog, EventLog)
    assert isinstance(MemoryEventLog(), EventLog)


async def test_ids_increase_in_append_order_and_events_read_back_whole(event_log: EventLog):
    assert await event_log.latest_event_id() == 0
    assert await event_log.events_after(0, 10) == []
    sent = progress("u1", 5)
    first = await event_log.append_events([created(1), sent], now=100.0)
    second = await event_log.append_events([created(2, "globex")], now=101.0)
    ids = first + second
    numbers = [parse_event_id(i) for i in ids]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert all(i.isdigit() for i in ids)  # URL-safe as it is
    assert await event_log.latest_event_id() == numbers[-1]
    read = await event_log.events_after(0, 10)
    assert [logged.id for logged in read] == ids
    assert read[1].event == sent  # name, customer, data, at, owner
    assert read[2].event.customer_id == "globex"
    assert read[0].event.owner is None


async def test_reads_page_by_id(event_log: EventLog):
    ids = await event_log.append_events([created(n) for n in range(7)], now=100.0)
    numbers = [parse_event_id(i) for i in ids]
    page = await event_log.events_after(0, 3)
    assert [logged.event.data["n"] for logged in page] == [0, 1, 2]
    page = await event_log.events_after(page[-1].number, 3)
    assert [logged.event.data["n"] for logged in page] == [3, 4, 5]
    assert [lg.event.data["n"] for lg in await event_log.events_after(numbers[5], 3)] == [6]
    assert await event_log.events_after(numbers[-1], 3) == []
    assert await event_log.has_event(numbers[3])
    assert not await event_log.has_event(numbers[-1] + 1)
    assert not await event_log.has_event(0)


async def test_an_uploads_latest_progress_is_found_by_customer_and_id(event_log: EventLog):
    await event_log.append_events([progress("u1", 1), progress("u2", 7)], now=100.0)
    await event_log.append_events([progress("u1", 3), created(1)], now=101.0)
    await event_log.append_events([progress("u1", 99, customer="globex")], now=102.0)
    found = await event_log.last_upload_progress("acme", "u1")
    assert found is not None and found.event.data["received_bytes"] == 3
    assert found.event.owner == "alice"
    other = await event_log.last_upload_progress("globex", "u1")
    assert other is not None and other.event.data["received_bytes"] == 99
    assert await event_log.last_upload_progress("acme", "nope") is None
    assert await event_log.last_upload_progress("initech", "u1") is None


async def test_pruning_keeps_recent_events_and_the_newest_few(event_log: EventLog):
    old = await event_log.append_events([created(n) for n in range(5)], now=100.0)
    recent = await event_log.append_events([created(n) for n in range(5, 7)], now=200.0)
    # older than 150 and not among the newest 3: the first four go
    assert await event_log.prune_events(before=150.0, keep_last=3) == 4
    left = [logged.id for logged in await event_log.events_after(0, 10)]
    assert left == old[4:] + recent
    assert not await event_log.has_event(parse_event_id(old[0]))
    assert await event_log.prune_events(before=150.0, keep_last=3) == 0
    # everything is old now, but the newest three stay
    assert await event_log.prune_events(before=1000.0, keep_last=3) == 0
    assert await event_log.prune_events(before=1000.0, keep_last=1) == 2
    assert [logged.id for logged in await event_log.events_after(0, 10)] == recent[1:]
    # ids are never reused after pruning
    again = await event_log.append_events([created(9)], now=300.0)
    assert parse_event_id(again[0]) > parse_event_id(recent[-1])


async def test_empty_appends_and_prunes_are_harmless(event_log: EventLog):
    assert await event_log.append_events([], now=1.0) == []
    assert await event_log.prune_events(before=1e12, keep_last=10) == 0


# --- several handles on one log (several instances) ----------------------------------------


SHARED = ["sqlite", "nx"]


@pytest.fixture
async def two_handles(
    request: pytest.FixtureRequest, tmp_path
) -> AsyncIterator[tuple[EventLog, EventLog]]:
    if request.param == "sqlite":
        first: SqliteCatalog | MongoCatalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
        second: SqliteCatalog | MongoCatalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    else:
        nx_url = request.getfixturevalue("nx_url")
        url = f"{nx_url}/asset_test_{uuid.uuid4().hex[:12]}?serverSelectionTimeoutMS=5000"
        first, second = MongoCatalog(url), MongoCatalog(url)
    await first.open()
    await second.open()
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


@pytest.mark.parametrize("two_handles", SHARED, indirect=True)
async def test_appends_of_several_instances_take_distinct_increasing_ids(two_handles):
    first, second = two_handles
    taken: list[list[str]] = [[], []]

    async def append(log: EventLog, which: int) -> None:
        for n in range(10):
            taken[which] += await log.append_events([created(n), created(n)], now=100.0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(append, first, 0)
        nursery.start_soon(append, second, 1)
    for ids in taken:  # each instance's own appends in the order it made them
        assert [parse_event_id(i) for i in ids] == sorted(parse_event_id(i) for i in ids)
    every = sorted(parse_event_id(i) for i in taken[0] + taken[1])
    assert len(set(every)) == 40
    for log in (first, second):  # both read the one log, in id order
        read = [logged.number for logged in await log.events_after(0, 100)]
        assert read == every
