"""Query strings of the list and search routes → ``AssetQuery``. Unknown parameters are
ignored; a known one with an invalid value is a 400 naming it."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from asset_service.engine import AssetQuery, Page
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput
from asset_service.engine.search import SortOrder, query_words

from .context import services
from .cursors import cursor_key as derive_cursor_key
from .cursors import seal, unseal
from .params import parse_decimal
from .serialize import asset_json

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _one(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"{name} is given more than once")
    return values[0] if values else None


def _int(args: MultiDict[str, str], name: str, low: int, high: int) -> int | None:
    raw = _one(args, name)
    if raw is None:
        return None
    value = parse_decimal(raw.strip())
    if value is None or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}")
    return value


def _number(args: MultiDict[str, str], name: str) -> float | None:
    raw = _one(args, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{name} must be a non-negative number")
    return value


def _time(args: MultiDict[str, str], name: str) -> datetime | None:
    raw = _one(args, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _flag(args: MultiDict[str, str], name: str) -> bool:
    raw = _one(args, name)
    if raw is None:
        return False
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no", ""):
        return False
    raise InvalidInput(f"{name} must be true or false")


def _text(args: MultiDict[str, str], name: str, limit: int = 200) -> str | None:
    raw = _one(args, name)
    if raw is None or raw.strip() == "":
        return None
    return field_rules.clean_text(raw, name, limit)


def asset_query(
    args: MultiDict[str, str],
    customer_id: str,
    *,
    asset_type: str | None = None,
    search: bool = False,
    cursor_key: bytes | None = None,
) -> AssetQuery:
    """Pagination and folder filters for every list; with ``search``, every filter of
    ``GET /api/assets/search``."""
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "type": asset_type,
        "limit": _int(args, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT,
        "recursive": _flag(args, "recursive"),
        "deleted": None if _flag(args, "include_deleted") else False,
    }
    folder = _one(args, "folder")
    if folder is not None:
        values["folder"] = field_rules.normalize_folder(folder)
    if search:
        values.update(_search_filters(args))
        if asset_type is None:
            values["type"] = _text(args, "type", 50)
    sort = _one(args, "sort")
    if sort is not None:
        try:
            values["sort"] = SortOrder.parse(sort)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
    query = AssetQuery(**values)
    cursor = _one(args, "cursor")
    if cursor is not None:
        key = cursor_key or _cursor_key()
        query = replace(query, cursor=unseal(key, str(query.sort), cursor))
    return query


def _cursor_key() -> bytes:
    return derive_cursor_key(services().settings.url_signing_secret)


def _search_filters(args: MultiDict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    text = _text(args, "q", 500)
    if text is not None:
        try:
            query_words(text)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        found["text"] = text
    tags = _one(args, "tags")
    if tags:
        found["tags"] = field_rules.normalize_tags(field_rules.parse_tag_list(tags))
    mode = _one(args, "tag_mode")
    if mode is not None:
        if mode not in ("all", "any"):
            raise InvalidInput("tag_mode must be all or any")
        found["tag_mode"] = mode
    for name, key in (("category", "category"), ("mime", "mime_type")):
        value = _text(args, name, 255)
        if value is not None:
            found[key] = value.lower() if key == "mime_type" else value
    for name in ("min_size", "max_size"):
        value = _int(args, name, 0, 2**62)
        if value is not None:
            found[name] = value
    for name in ("min_duration", "max_duration"):
        value = _number(args, name)
        if value is not None:
            found[name] = value
    for name in ("created_after", "created_before", "updated_after", "updated_before"):
        value = _time(args, name)
        if value is not None:
            found[name] = value
    return found


def page_json(page: Page, query: AssetQuery, cursor_key: bytes | None = None) -> dict[str, Any]:
    """A page as JSON, its cursor signed for the query's sort order. ``cursor_key``: given
    where Quart's app context is out of reach (GraphQL's worker threads)."""
    return {
        "items": [asset_json(asset) for asset in page.items],
        "next_cursor": seal(cursor_key or _cursor_key(), str(query.sort), page.next_cursor),
    }
