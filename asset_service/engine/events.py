"""The event hub: actors publish, subscribers (WebSocket clients, plugins) receive.

Publishing never blocks an actor: each subscriber has a bounded buffer, and a subscriber that
falls behind loses events (counted in ``dropped``) rather than stalling uploads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from . import policy
from .model import Principal, Visibility, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """``name`` is one of ``upload.progress``, ``asset.created``, ``asset.updated``,
    ``asset.deleted``, ``asset.restored``, ``asset.purged``, ``version.created``,
    ``asset.preview_ready``, ``asset.preview_failed``."""

    name: str
    customer_id: str
    data: dict[str, Any]
    at: str = field(default_factory=lambda: utc_now().isoformat())
    #: when set, only this user and the customer's admins (and services) are told: the events
    #: of a private asset, an upload's progress
    owner: str | None = None
    #: set once the event is in the event log (or could not be put there): what an upload's
    #: ``201`` waits for, so that every instance can read its outcome once the client has it
    logged: trio.Event = field(default_factory=trio.Event, compare=False, repr=False)


def asset_event(name: str, asset: Any, **data: Any) -> Event:
    """An ``asset.*`` (or ``version.created``) event about ``asset`` (a ``model.Asset``)."""
    return Event(
        name,
        asset.customer_id,
        {"asset_id": asset.asset_id, "type": asset.type, "revision": asset.revision, **data},
        owner=asset.user_id if asset.visibility == Visibility.PRIVATE else None,
    )


def created_event(asset: Any) -> Event:
    """``asset.created`` with what a list needs to draw the new row without asking for the
    record: its name, size and folder."""
    event = asset_event("asset.created", asset)
    event.data.update(name=asset.name, size=asset.size, folder=asset.metadata.folder)
    return event


def visible_to(event: Event, principal: Principal) -> bool:
    """Whether a subscriber acting as ``principal`` may be told of ``event``: its customer's
    events only, and an owned event only if it is the owner's or an admin's."""
    if event.customer_id != principal.customer_id:
        return False
    return event.owner is None or event.owner == principal.user_id or policy.is_admin(principal)


class EventHub:
    def __init__(self, buffer: int = 256) -> None:
        if buffer < 1:
            raise ValueError("a subscriber needs room for at least one event")
        self._buffer = buffer
        self._subscribers: set[trio.MemorySendChannel[Event]] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self.dropped = 0

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """A synchronous callback for every event (the inspector's ``notify``)."""
        self._listeners.append(listener)

    def publish(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a plugin's bug must not break the engine
                logger.exception("event listener failed on %s", event.name)
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
            except trio.BrokenResourceError:
                self._subscribers.discard(channel)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[trio.MemoryReceiveChannel[Event]]:
        send_channel, receive_channel = trio.open_memory_channel[Event](self._buffer)
        self._subscribers.add(send_channel)
        try:
            async with receive_channel:
                yield receive_channel
        finally:
            self._subscribers.discard(send_channel)
            send_channel.close()
