"""The relay between the event hub and the event log: every event this instance publishes is
appended to the log, and every event in the log — this instance's and the others' — is fanned
out to this instance's subscribers (the WebSocket clients) from there, so that all instances
deliver the same events in the same order, each with its id.

Three tasks in the engine's nursery: the appender (batches what the hub hands it; when the log
refuses a batch, its events are still delivered here, counted in ``unlogged``), the tail (reads
the log after its cursor when woken by an append of its own, by the log's change stream, or
every ``poll_interval``), and the pruner (every minute, keeps at least ``retention`` seconds or
``retention_count`` events). ``subscribe(since=…)`` replays what the log holds after ``since``
up to where the tail stood, then goes on live with what the tail reads, with no gap or repeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from .event_log import EventLog, format_event_id
from .event_subscription import (
    READ_BATCH,
    Delivered,
    EventsGone,
    EventsUnavailable,
    Subscriber,
    Subscription,
)
from .events import Event

logger = logging.getLogger(__name__)

#: events waiting for the appender; past this many the log is too slow and events go unlogged
APPEND_QUEUE = 4096
#: events appended in one call at most
APPEND_BATCH = 200
#: how long the tail waits for a missing id (an append of another instance still being
#: written) before it takes it as never to come
GAP_GRACE = 2.0
#: how often the tail polls anyway while a change stream wakes it
WATCHED_POLL = 1.0
PRUNE_EVERY = 60.0
#: events a subscriber may have waiting; a subscriber that falls further behind is dropped
#: (its client reconnects with ``since``)
SUBSCRIBER_BUFFER = 1024


class _Trouble:
    """Logs a failure that repeats (the catalog is down: the tail fails ten times a second)
    once with its traceback, then not again until it has recovered."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._failing = False

    def failed(self) -> None:
        if not self._failing:
            logger.exception("%s (said once until it works again)", self._what)
        self._failing = True

    def worked(self) -> None:
        if self._failing:
            logger.warning("%s: works again", self._what)
        self._failing = False


@dataclass(slots=True)
class Retention:
    """How much of the log is kept: events younger than ``seconds`` and, whatever their
    age, the newest ``count``."""

    seconds: float = 600.0
    count: int = 10_000


class EventRelay:
    def __init__(
        self,
        log: EventLog,
        *,
        poll_interval: float = 0.1,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
        buffer: int = SUBSCRIBER_BUFFER,
    ) -> None:
        self.log = log
        self._poll = poll_interval
        self._retention = retention or Retention()
        self._clock = clock
        self._buffer = buffer
        self._queue_send, self._queue_receive = trio.open_memory_channel[Event](APPEND_QUEUE)
        self._subscribers: set[Subscriber] = set()
        self._wake = trio.Event()
        self._watching = False
        self._gap_since: float | None = None
        #: the id of the last event fanned out (``0``: none yet)
        self.cursor = 0
        #: events the log refused (or had no room for), delivered here only
        self.unlogged = 0
        #: subscribers dropped for falling behind
        self.dropped = 0
        self.running = False
        self._append_trouble = _Trouble("could not append to the event log")
        self._read_trouble = _Trouble("could not read the event log")

    # --- in: the hub's listener ---------------------------------------------------------

    def offer(self, event: Event) -> None:
        """Queue ``event`` for the log (the event hub calls this for every event)."""
        try:
            self._queue_send.send_nowait(event)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._deliver_unlogged([event])

    def wake(self) -> None:
        """Read the log now (something was appended)."""
        self._wake.set()

    # --- the tasks -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # Subscribers hear of what is appended from now on; older events are replays.
        self.cursor = await self.log.latest_event_id()
        async with trio.open_nursery() as nursery:
            watch = getattr(self.log, "watch_events", None)
            if watch is not None:
                await nursery.start(self._watched, watch)
            nursery.start_soon(self._append)
            nursery.start_soon(self._tail)
            nursery.start_soon(self._prune)
            self.running = True
            task_status.started()

    async def _watched(
        self, watch: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The log's change stream, for as long as it lasts; the tail polls slowly meanwhile."""
        relay = self

        class Started:
            done = False

            def started(self, watching: bool = False) -> None:
                relay._watching = watching
                self.done = True
                task_status.started()

        status = Started()
        try:
            await watch(self.wake, task_status=status)
        except Exception:
            # The stream only speeds things up: the tail polls without it.
            logger.exception("the event log's change stream failed")
        finally:
            self._watching = False
            if not status.done:
                task_status.started()

    async def _append(self) -> None:
        async with self._queue_receive:
            async for event in self._queue_receive:
                batch = [event]
                while len(batch) < APPEND_BATCH:
                    try:
                        batch.append(self._queue_receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                try:
                    await self.log.append_events(batch, self._clock())
                except Exception:
                    # The catalog is down or busy: the events still reach this instance's
                    # subscribers; the others' never hear of them.
                    self._append_trouble.failed()
                    self._deliver_unlogged(batch)
                else:
                    self._append_trouble.worked()
                    self.wake()
                finally:
                    for logged in batch:
                        logged.logged.set()

    async def _tail(self) -> None:
        while True:
            self._wake = trio.Event()
            try:
                full = await self._read()
            except Exception:
                self._read_trouble.failed()
                full = False
            else:
                self._read_trouble.worked()
            if full:
                continue
            with trio.move_on_after(WATCHED_POLL if self._watching else self._poll):
                await self._wake.wait()

    async def _read(self) -> bool:
        """Fan out what the log holds after the cursor; whether there may be more."""
        batch = await self.log.events_after(self.cursor, READ_BATCH)
        for logged in batch:
            if logged.number != self.cursor + 1 and self.cursor != 0:
                now = trio.current_time()
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < GAP_GRACE:
                    return False  # the missing ones may still be being written
                logger.warning(
                    "event ids %d to %d were never logged", self.cursor + 1, logged.number - 1
                )
            self._gap_since = None
            self.cursor = logged.number
            self._fan_out(Delivered(logged.id, logged.event))
        return len(batch) == READ_BATCH

    async def _prune(self) -> None:
        while True:
            await trio.sleep(PRUNE_EVERY)
            try:
                await self.prune()
            except Exception:
                logger.exception("could not prune the event log")

    async def prune(self) -> int:
        """Remove what the retention lets go (the pruner does this every minute)."""
        return await self.log.prune_events(
            self._clock() - self._retention.seconds, self._retention.count
        )

    # --- out: subscribers ----------------------------------------------------------------

    def _deliver_unlogged(self, events: list[Event]) -> None:
        self.unlogged += len(events)
        for event in events:
            self._fan_out(Delivered(format_event_id(self.cursor), event, in_log=False))
            event.logged.set()

    def _fan_out(self, delivered: Delivered) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.send.send_nowait(delivered)
            except trio.WouldBlock:
                # Dropping one event would leave a silent gap: the subscriber is dropped
                # instead, and its client resumes with ``since``.
                self.dropped += 1
                subscriber.overflowed = True
                self._subscribers.discard(subscriber)
                subscriber.send.close()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.discard(subscriber)

    @asynccontextmanager
    async def subscribe(self, since: int | None = None) -> AsyncIterator[Subscription]:
        """Every event from now on; with ``since``, first those the log holds after it.
        ``EventsGone`` when ``since`` is not in the log (pruned, or never an id)."""
        if since is not None:
            try:
                kept = await self.log.has_event(since)
            except Exception as error:
                raise EventsUnavailable("the event log cannot be read") from error
            if not kept:
                raise EventsGone(f"event {since} is no longer kept")
        send, receive = trio.open_memory_channel[Delivered](self._buffer)
        subscriber = Subscriber(send)
        # No checkpoint between the two: what the tail fans out from here on comes live,
        # what it fanned out before is replayed.
        self._subscribers.add(subscriber)
        caught_up = self.cursor
        try:
            async with receive:
                yield Subscription(self.log, subscriber, receive, since, caught_up)
        finally:
            self._subscribers.discard(subscriber)
            send.close()
