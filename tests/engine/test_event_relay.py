"""The relay between the hub and the event log: every subscriber gets the log's events in id
order; ``since`` replays then goes live with no gap or repeat; an id no longer kept is
``EventsGone``; an event the log refuses is still delivered here (counted); a gap in the ids
is waited for, then skipped; a subscriber that falls behind is dropped, not left with a gap;
two relays on one log deliver the same sequence. On the in-memory log, with Trio's autojump
clock (the relay's waits are virtual time)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio

from asset_service.engine.event_log import MemoryEventLog
from asset_service.engine.event_relay import GAP_GRACE, PRUNE_EVERY, EventRelay, Retention
from asset_service.engine.event_subscription import (
    Delivered,
    EventsGone,
    EventsUnavailable,
    Subscription,
)
from asset_service.engine.events import Event


def event(n: int) -> Event:
    return Event("asset.created", "acme", {"n": n})


async def take(stream: Subscription, count: int) -> list[Delivered]:
    got = []
    with trio.fail_after(10):
        async for delivered in stream:
            got.append(delivered)
            if len(got) == count:
                break
    return got


def numbers(delivered: Sequence[Delivered]) -> list[int]:
    return [d.event.data["n"] for d in delivered]


async def started(nursery: trio.Nursery, relay: EventRelay) -> EventRelay:
    await nursery.start(relay.run)
    return relay


async def test_offered_events_reach_subscribers_through_the_log_with_ids(autojump_clock):
    log = MemoryEventLog()
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(log))
        async with relay.subscribe() as stream:
            sent = [event(n) for n in range(3)]
            for e in sent:
                relay.offer(e)
            got = await take(stream, 3)
            assert numbers(got) == [0, 1, 2]
            assert [d.id for d in got] == ["1", "2", "3"]
            assert all(d.in_log for d in got)
            assert all(e.logged.is_set() for e in sent)
            assert [lg.id for lg in await log.events_after(0, 10)] == ["1", "2", "3"]
        nursery.cancel_scope.cancel()


async def test_since_replays_then_goes_live_without_gap_or_repeat(autojump_clock):
    log = MemoryEventLog()
    await log.append_events([event(n) for n in range(5)], now=0.0)  # before this instance
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(log))
        relay.offer(event(5))
        relay.offer(event(6))
        await trio.sleep(1)  # fanned out to nobody: the subscriber below replays them
        async with relay.subscribe(since=2) as stream:
            # another instance appends while this one replays
            await log.append_events([event(7)], now=0.0)
            relay.offer(event(8))
            got = await take(stream, 7)
            # nothing more: no repeat of what was replayed
            with trio.move_on_after(5):
                got += [await stream.__anext__()]
        assert numbers(got) == [2, 3, 4, 5, 6, 7, 8]
        assert [int(d.id) for d in got] == list(range(3, 10))
        nursery.cancel_scope.cancel()


async def test_since_ahead_of_this_instance_repeats_nothing(autojump_clock):
    log = MemoryEventLog()
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(log, poll_interval=5.0))
        # another instance logged 1..3 and its client saw them; this relay has not read yet
        await log.append_events([event(n) for n in range(1, 4)], now=0.0)
        async with relay.subscribe(since=3) as stream:
            relay.offer(event(4))
            got = await take(stream, 1)
        assert [(d.id, d.event.data["n"]) for d in got] == [("4", 4)]
        nursery.cancel_scope.cancel()


async def test_an_id_no_longer_kept_is_gone(autojump_clock):
    clock = [0.0]
    log = MemoryEventLog()
    relay = EventRelay(log, retention=Retention(600.0, 2), clock=lambda: clock[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        for n in range(4):
            relay.offer(event(n))
        await trio.sleep(1)
        clock[0] = 601.0
        await trio.sleep(PRUNE_EVERY + 1)  # the pruner's turn
        assert [lg.id for lg in await log.events_after(0, 10)] == ["3", "4"]
        for since in (1, 99):  # pruned, never an id
            with pytest.raises(EventsGone):
                async with relay.subscribe(since=since):
                    pass
        async with relay.subscribe(since=3) as stream:
            relay.offer(event(4))
            assert [d.id for d in await take(stream, 2)] == ["4", "5"]
        nursery.cancel_scope.cancel()


class RefusingLog(MemoryEventLog):
    async def append_events(self, events, now):  # type: ignore[override]
        raise ConnectionError("the catalog is down")


async def test_an_event_the_log_refuses_is_still_delivered_here(autojump_clock):
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(RefusingLog()))
        async with relay.subscribe() as stream:
            sent = event(1)
            relay.offer(sent)
            (got,) = await take(stream, 1)
        assert got.event is sent and not got.in_log and got.id == "0"
        assert relay.unlogged == 1 and sent.logged.is_set()
        nursery.cancel_scope.cancel()


class GappyLog(MemoryEventLog):
    """Hands out ids with a hole at 2, as MongoDB does while another instance's append of a
    taken number is still on its way (or failed)."""

    async def append_events(self, events, now):  # type: ignore[override]
        if self._next == 2:
            self._next = 3
        return await super().append_events(events, now)


async def test_a_gap_is_waited_for_then_skipped(autojump_clock):
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(GappyLog()))
        async with relay.subscribe() as stream:
            relay.offer(event(1))
            assert [d.id for d in await take(stream, 1)] == ["1"]
            start = trio.current_time()
            relay.offer(event(3))
            assert [d.id for d in await take(stream, 1)] == ["3"]
            assert trio.current_time() - start >= GAP_GRACE
        nursery.cancel_scope.cancel()


async def test_a_subscriber_that_falls_behind_is_dropped_not_left_with_a_gap(autojump_clock):
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(MemoryEventLog(), buffer=2))
        async with relay.subscribe() as slow, relay.subscribe() as fast:
            for n in range(3):
                relay.offer(event(n))
            assert numbers(await take(fast, 3)) == [0, 1, 2]
            assert numbers([d async for d in slow]) == [0, 1]  # then its stream ends
            assert slow.overflowed and not fast.overflowed
            assert relay.dropped == 1
        nursery.cancel_scope.cancel()


async def test_two_relays_on_one_log_deliver_one_sequence(autojump_clock):
    log = MemoryEventLog()
    async with trio.open_nursery() as nursery:
        a = await started(nursery, EventRelay(log))
        b = await started(nursery, EventRelay(log))
        async with a.subscribe() as on_a, b.subscribe() as on_b:
            for n in range(6):
                (a if n % 2 else b).offer(event(n))
            got_a, got_b = await take(on_a, 6), await take(on_b, 6)
        assert [(d.id, d.event.data) for d in got_a] == [(d.id, d.event.data) for d in got_b]
        assert sorted(numbers(got_a)) == list(range(6))
        nursery.cancel_scope.cancel()


class WatchedLog(MemoryEventLog):
    """A log with a change stream (as MongoDB on a replica set): ``notify`` is an insert."""

    def __init__(self) -> None:
        super().__init__()
        self.wake = None

    async def watch_events(self, wake, *, task_status=trio.TASK_STATUS_IGNORED):
        self.wake = wake
        task_status.started(True)
        await trio.sleep_forever()


async def test_a_change_stream_wakes_the_tail_between_slow_polls(autojump_clock):
    log = WatchedLog()
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(log, poll_interval=0.1))
        async with relay.subscribe() as stream:
            await trio.sleep(5.5)  # between two of the slow polls (every second)
            start = trio.current_time()
            await log.append_events([event(1)], now=0.0)  # another instance's append
            assert log.wake is not None
            log.wake()
            await take(stream, 1)
            assert trio.current_time() - start < 0.1  # woken, not polled (1 s while watched)
        nursery.cancel_scope.cancel()


class BrokenWatchLog(MemoryEventLog):
    async def watch_events(self, wake, *, task_status=trio.TASK_STATUS_IGNORED):
        raise RuntimeError("no stream today")


async def test_a_failing_change_stream_leaves_the_tail_polling(autojump_clock):
    log = BrokenWatchLog()
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(log, poll_interval=0.1))
        async with relay.subscribe() as stream:
            await log.append_events([event(1)], now=0.0)
            assert numbers(await take(stream, 1)) == [1]
        nursery.cancel_scope.cancel()


class UnreadableLog(MemoryEventLog):
    """The catalog is down for reads."""

    async def events_after(self, after, limit):  # type: ignore[override]
        raise ConnectionError("the catalog is down")

    async def has_event(self, number):  # type: ignore[override]
        raise ConnectionError("the catalog is down")


async def test_an_unreadable_log_is_unavailable_and_said_once(autojump_clock, caplog):
    async with trio.open_nursery() as nursery:
        relay = await started(nursery, EventRelay(UnreadableLog(), poll_interval=0.1))
        await trio.sleep(5)  # fifty failed reads
        with pytest.raises(EventsUnavailable):
            async with relay.subscribe(since=1):
                pass
        nursery.cancel_scope.cancel()
    said = [r for r in caplog.records if "could not read the event log" in r.getMessage()]
    assert len(said) == 1
