"""The event log port: every instance's events in one ordered log in the catalog they share, so
that each instance's WebSocket subscribers see every event in the same order, and a client that
reconnects can resume after the last event it saw.

An event's id is its position in the log: a decimal sequence number as text (URL-safe), strictly
increasing in the order the log took the events. ``MemoryEventLog`` is the log of a catalog that
has none (one instance only); the SQLite and MongoDB catalogs implement the port themselves
(``adapters/_sqlite_events.py``, ``adapters/_mongo_events.py``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .events import Event

#: what an id looks like: up to 18 decimal digits (fits a signed 64-bit integer)
_ID = re.compile(r"[0-9]{1,18}")


def parse_event_id(text: str) -> int:
    """The sequence number of the id ``text``; ``ValueError`` (with a message a client can
    read) unless it is one."""
    if not _ID.fullmatch(text):
        raise ValueError("an event id is 1 to 18 decimal digits")
    return int(text)


def format_event_id(number: int) -> str:
    return str(number)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as the log holds it: with its id."""

    id: str
    event: Event

    @property
    def number(self) -> int:
        return int(self.id)


def event_document(event: Event) -> dict[str, Any]:
    """What the log stores of an event (JSON-compatible)."""
    document: dict[str, Any] = {
        "name": event.name,
        "customer_id": event.customer_id,
        "data": event.data,
        "at": event.at,
    }
    if event.owner is not None:
        document["owner"] = event.owner
    return document


def event_from_document(document: dict[str, Any]) -> Event:
    return Event(
        document["name"],
        document["customer_id"],
        dict(document["data"]),
        at=document["at"],
        owner=document.get("owner"),
    )


def upload_id_of(event: Event) -> str | None:
    """The upload an ``upload.progress`` event is about (what ``last_upload_progress`` finds
    it by); ``None`` for every other event."""
    if event.name != "upload.progress":
        return None
    upload_id = event.data.get("upload_id")
    return upload_id if isinstance(upload_id, str) else None


@runtime_checkable
class EventLog(Protocol):
    """The log. Appends from several instances interleave, each batch's ids increasing in its
    order; a reader sees events in id order. Ids are dense but for an append that failed
    halfway (MongoDB: a sequence number taken and never written), which a reader skips after a
    grace period (``event_relay``)."""

    async def append_events(self, events: Sequence[Event], now: float) -> list[str]:
        """Append ``events`` in order, stamped ``now`` (seconds since the epoch, for pruning);
        their ids."""
        ...

    async def events_after(self, after: int, limit: int) -> list[LoggedEvent]:
        """Up to ``limit`` events with ids above ``after``, in id order."""
        ...

    async def latest_event_id(self) -> int:
        """The highest id in the log, ``0`` when it is empty."""
        ...

    async def has_event(self, number: int) -> bool:
        """Whether the event with this id is (still) in the log."""
        ...

    async def last_upload_progress(self, customer_id: str, upload_id: str) -> LoggedEvent | None:
        """The latest ``upload.progress`` event of this customer's upload, if still logged."""
        ...

    async def prune_events(self, before: float, keep_last: int) -> int:
        """Remove the events stamped before ``before`` that are not among the ``keep_last``
        newest; how many went."""
        ...


class MemoryEventLog:
    """The log of one process, for a catalog without one: the same behaviour, not shared."""

    def __init__(self) -> None:
        self._events: deque[tuple[int, float, Event]] = deque()
        self._next = 1

    async def append_events(self, events: Sequence[Event], now: float) -> list[str]:
        ids = []
        for event in events:
            self._events.append((self._next, now, event))
            ids.append(format_event_id(self._next))
            self._next += 1
        return ids

    async def events_after(self, after: int, limit: int) -> list[LoggedEvent]:
        found = []
        for number, _, event in self._events:
            if number > after:
                found.append(LoggedEvent(format_event_id(number), event))
                if len(found) >= limit:
                    break
        return found

    async def latest_event_id(self) -> int:
        return self._events[-1][0] if self._events else 0

    async def has_event(self, number: int) -> bool:
        return bool(self._events) and self._events[0][0] <= number <= self._events[-1][0]

    async def last_upload_progress(self, customer_id: str, upload_id: str) -> LoggedEvent | None:
        for number, _, event in reversed(self._events):
            if event.customer_id == customer_id and upload_id_of(event) == upload_id:
                return LoggedEvent(format_event_id(number), event)
        return None

    async def prune_events(self, before: float, keep_last: int) -> int:
        removed = 0
        while len(self._events) > keep_last and self._events[0][1] < before:
            self._events.popleft()
            removed += 1
        return removed
