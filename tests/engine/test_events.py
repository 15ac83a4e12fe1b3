"""The event hub: fan-out, bounded buffers that drop rather than stall, listener isolation."""

from __future__ import annotations

import pytest
import trio

from asset_service.engine.events import Event, EventHub


def event(n: int) -> Event:
    return Event("asset.created", "acme", {"n": n})


async def test_every_subscriber_gets_every_event():
    hub = EventHub()
    async with hub.subscribe() as first, hub.subscribe() as second:
        hub.publish(event(1))
        hub.publish(event(2))
        assert [first.receive_nowait().data["n"] for _ in range(2)] == [1, 2]
        assert [second.receive_nowait().data["n"] for _ in range(2)] == [1, 2]


async def test_a_slow_subscriber_loses_events_instead_of_blocking_the_publisher():
    hub = EventHub(buffer=2)
    async with hub.subscribe() as slow:
        for n in range(5):
            hub.publish(event(n))  # synchronous: never waits for the subscriber
        assert [slow.receive_nowait().data["n"] for _ in range(2)] == [0, 1]
        assert hub.dropped == 3
        with pytest.raises(trio.WouldBlock):
            slow.receive_nowait()


async def test_unsubscribed_channels_are_forgotten():
    hub = EventHub()
    async with hub.subscribe():
        pass
    hub.publish(event(1))
    assert hub.dropped == 0
    assert not hub._subscribers


async def test_a_failing_listener_does_not_stop_the_others():
    hub = EventHub()
    seen = []

    def broken(_: Event) -> None:
        raise RuntimeError("plugin bug")

    hub.add_listener(broken)
    hub.add_listener(seen.append)
    async with hub.subscribe() as channel:
        hub.publish(event(1))
        assert channel.receive_nowait().data == {"n": 1}
    assert [e.data for e in seen] == [{"n": 1}]
