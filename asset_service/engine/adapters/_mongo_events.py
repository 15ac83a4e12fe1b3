"""``EventLog`` on MongoDB: an ``events`` collection whose ``seq`` (unique) is the event's
sequence number, taken from a counter document (``event_sequence``) by one ``$inc`` per
appended batch. (``seq``, not ``_id``: nx-27017 cannot store a number as ``_id``.)

Two instances' batches take their numbers in one order and may be written in the other, so a
reader can briefly see a gap; ``event_relay`` waits a moment for it to fill (a number taken by
an append that then failed never is). When the server is a replica set, a change stream on
``events`` wakes the readers at once (``watch_events``); otherwise they poll by id. Mixed into
``MongoCatalog``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import trio
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import PyMongoError

from ..event_log import (
    LoggedEvent,
    event_document,
    event_from_document,
    format_event_id,
    upload_id_of,
)
from ..events import Event

logger = logging.getLogger(__name__)

EVENT_INDEXES = [
    IndexModel([("seq", ASCENDING)], name="event_seq", unique=True),
    IndexModel([("logged_at", ASCENDING)], name="event_logged_at"),
    IndexModel(
        [("customer_id", ASCENDING), ("upload_id", ASCENDING), ("seq", DESCENDING)],
        name="event_upload",
    ),
]
#: how long one wait of the change stream lasts (bounds how long a cancel waits for it)
WATCH_WAIT_MS = 500


def _logged(document: dict[str, Any]) -> LoggedEvent:
    return LoggedEvent(format_event_id(int(document["seq"])), event_from_document(document["e"]))


class MongoEventLog:
    _call: Callable[..., Any]

    async def append_events(self, events: Sequence[Event], now: float) -> list[str]:
        if not events:
            return []
        count = len(events)

        def append(db: Any) -> list[str]:
            counter = db.event_sequence.find_one_and_update(
                {"_id": "events"},
                {"$inc": {"n": count}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            first = int(counter["n"]) - count + 1
            documents = [
                {
                    "seq": first + offset,
                    "logged_at": now,
                    "customer_id": event.customer_id,
                    "upload_id": upload_id_of(event),
                    "e": event_document(event),
                }
                for offset, event in enumerate(events)
            ]
            db.events.insert_many(documents, ordered=True)
            return [format_event_id(document["seq"]) for document in documents]

        return await self._call(append)

    async def events_after(self, after: int, limit: int) -> list[LoggedEvent]:
        def find(db: Any) -> list[dict[str, Any]]:
            return list(db.events.find({"seq": {"$gt": after}}).sort("seq", ASCENDING).limit(limit))

        return [_logged(document) for document in await self._call(find)]

    async def latest_event_id(self) -> int:
        def latest(db: Any) -> int:
            found = list(db.events.find({}, {"seq": 1}).sort("seq", DESCENDING).limit(1))
            return int(found[0]["seq"]) if found else 0

        return await self._call(latest)

    async def has_event(self, number: int) -> bool:
        found = await self._call(lambda db: db.events.find_one({"seq": number}, {"seq": 1}))
        return found is not None

    async def last_upload_progress(self, customer_id: str, upload_id: str) -> LoggedEvent | None:
        def find(db: Any) -> list[dict[str, Any]]:
            selector = {"customer_id": customer_id, "upload_id": upload_id}
            return list(db.events.find(selector).sort("seq", DESCENDING).limit(1))

        found = await self._call(find)
        return _logged(found[0]) if found else None

    async def prune_events(self, before: float, keep_last: int) -> int:
        def prune(db: Any) -> int:
            # the newest ``keep_last`` stay whatever their age: the id below which to look
            boundary = list(
                db.events.find({}, {"seq": 1}).sort("seq", DESCENDING).skip(keep_last).limit(1)
            )
            if not boundary:
                return 0
            selector = {"seq": {"$lte": boundary[0]["seq"]}, "logged_at": {"$lt": before}}
            return int(db.events.delete_many(selector).deleted_count)

        return await self._call(prune)

    async def watch_events(
        self,
        wake: Callable[[], None],
        *,
        task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Call ``wake`` whenever an event is inserted, as long as a change stream can be kept
        open: started with ``True`` if the server is a replica set (change streams need one),
        ``False`` (and returns) otherwise; returns when the stream fails (readers poll)."""

        def is_replica_set(db: Any) -> bool:
            try:
                return "setName" in db.client.admin.command("hello")
            except (PyMongoError, NotImplementedError, AttributeError):
                return False

        if not await self._call(is_replica_set):
            task_status.started(False)
            return
        pipeline = [{"$match": {"operationType": "insert"}}]
        try:
            stream = await self._call(
                lambda db: db.events.watch(pipeline, max_await_time_ms=WATCH_WAIT_MS)
            )
        except PyMongoError as error:
            logger.warning("no change stream on the event log (%s): polling instead", error)
            task_status.started(False)
            return
        task_status.started(True)
        try:
            while True:
                # Not abandoned on cancel (a cursor is not for two threads at once): each wait
                # ends within WATCH_WAIT_MS.
                change = await trio.to_thread.run_sync(stream.try_next)
                if change is not None:
                    wake()
        except PyMongoError as error:
            logger.warning("the event log's change stream failed (%s): polling instead", error)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(stream.close)
