"""A subscriber's view of the event log: what it receives (``Delivered``: an event with its
id) and ``Subscription``, the replay of what the log holds after ``since`` up to where the relay
stood when it subscribed, then the live events the relay fans out, with none missed or repeated.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import trio

from .event_log import EventLog
from .events import Event

#: events read from the log in one call (the relay's tail and a replay)
READ_BATCH = 500


class EventsGone(Exception):
    """The event a subscription should resume after is no longer (or never was) in the log."""


class EventsUnavailable(Exception):
    """The log could not be read for a subscription's replay (the catalog is down)."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a subscriber receives: an event with its id. ``in_log`` is false for an event the
    log refused, delivered here only: its ``id`` is then that of the last logged event before
    it, so that a client resuming from it misses nothing that is in the log."""

    id: str
    event: Event
    in_log: bool = True


@dataclass(slots=True, eq=False)
class Subscriber:
    send: trio.MemorySendChannel[Delivered]
    #: dropped for falling behind: its stream ends, and its client should resume with ``since``
    overflowed: bool = False


class Subscription:
    """An async iterator of ``Delivered``: the replay, then live events. It ends when the
    subscriber fell too far behind (``overflowed``)."""

    def __init__(
        self,
        log: EventLog,
        subscriber: Subscriber,
        receive: trio.MemoryReceiveChannel[Delivered],
        since: int | None,
        caught_up: int,
    ) -> None:
        self._log = log
        self._subscriber = subscriber
        self._receive = receive
        self._caught_up = caught_up
        self._after = since if since is not None else caught_up
        self._replaying = since is not None and since < caught_up
        self._pending: deque[Delivered] = deque()
        #: live events up to this id were replayed (or came before ``since``)
        self._last = max(since or 0, caught_up)

    @property
    def overflowed(self) -> bool:
        return self._subscriber.overflowed

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivered:
        while self._replaying and not self._pending:
            try:
                page = await self._log.events_after(self._after, READ_BATCH)
            except Exception as error:
                raise EventsUnavailable("the event log cannot be read") from error
            for logged in page:
                if logged.number > self._caught_up:
                    break
                self._pending.append(Delivered(logged.id, logged.event))
                self._after = logged.number
            if len(page) < READ_BATCH or self._after >= self._caught_up or not self._pending:
                self._replaying = False
        if self._pending:
            return self._pending.popleft()
        while True:
            try:
                delivered = await self._receive.receive()
            except trio.EndOfChannel:
                raise StopAsyncIteration from None
            if not delivered.in_log:
                return delivered
            number = int(delivered.id)
            if number > self._last:
                self._last = number
                return delivered
