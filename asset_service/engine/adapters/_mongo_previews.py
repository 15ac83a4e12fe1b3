"""``PreviewStates`` on MongoDB: a ``previews`` collection, one document per (asset, version,
kind) under the ``_id`` ``{asset}:{version}:{kind}``. Mixed into ``MongoCatalog``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne
from pymongo.errors import BulkWriteError

from ..preview_types import PreviewState, PreviewStatus

PREVIEW_INDEXES = [
    IndexModel([("asset_id", ASCENDING), ("version", ASCENDING)], name="preview_asset"),
    IndexModel(
        [("status", ASCENDING), ("asset_id", ASCENDING), ("version", ASCENDING)],
        name="preview_pending",
    ),
]
_DUPLICATE_KEY = 11000


def _document(state: PreviewState) -> dict[str, Any]:
    return {"_id": f"{state.asset_id}:{state.version}:{state.kind}", **state.to_document()}


def _state(document: dict[str, Any]) -> PreviewState:
    document.pop("_id", None)
    return PreviewState.from_document(document)


class MongoPreviewStates:
    _call: Callable[..., Any]

    async def expect_previews(self, states: Sequence[PreviewState]) -> None:
        requests = [InsertOne(_document(state)) for state in states]

        def insert(db: Any) -> None:
            try:
                db.previews.bulk_write(requests, ordered=False)
            except BulkWriteError as error:
                others = [e for e in error.details["writeErrors"] if e["code"] != _DUPLICATE_KEY]
                if others:
                    raise

        if requests:
            await self._call(insert)

    async def save_preview(self, state: PreviewState) -> None:
        document = _document(state)
        await self._call(
            lambda db: db.previews.replace_one({"_id": document["_id"]}, document, upsert=True)
        )

    async def previews_of(self, asset_id: str, version: int | None = None) -> list[PreviewState]:
        selector: dict[str, Any] = {"asset_id": asset_id}
        if version is not None:
            selector["version"] = version

        def find(db: Any) -> list[dict[str, Any]]:
            return list(
                db.previews.find(selector).sort([("version", ASCENDING), ("kind", ASCENDING)])
            )

        return [_state(doc) for doc in await self._call(find)]

    async def pending_previews(
        self, after: tuple[str, int] | None = None, limit: int = 200
    ) -> list[tuple[str, int]]:
        selector: dict[str, Any] = {"status": PreviewStatus.PENDING.value}
        if after is not None:
            selector["$or"] = [
                {"asset_id": {"$gt": after[0]}},
                {"asset_id": after[0], "version": {"$gt": after[1]}},
            ]

        def find(db: Any) -> list[tuple[str, int]]:
            pairs: list[tuple[str, int]] = []
            cursor = db.previews.find(selector, {"asset_id": 1, "version": 1}).sort(
                [("asset_id", ASCENDING), ("version", ASCENDING)]
            )
            for doc in cursor:
                pair = (doc["asset_id"], int(doc["version"]))
                if not pairs or pairs[-1] != pair:
                    pairs.append(pair)
                    if len(pairs) == limit:
                        break
            return pairs

        return await self._call(find)

    async def delete_previews(self, asset_id: str, version: int | None = None) -> None:
        selector: dict[str, Any] = {"asset_id": asset_id}
        if version is not None:
            selector["version"] = version
        await self._call(lambda db: db.previews.delete_many(selector))

    async def asset_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        def find(db: Any) -> list[str]:
            cursor = (
                db.assets.find({"asset_id": {"$gt": after or ""}}, {"asset_id": 1})
                .sort("asset_id", ASCENDING)
                .limit(limit)
            )
            return [doc["asset_id"] for doc in cursor]

        return await self._call(find)
