"""Reading a request's parameters: ids in the path, flags and numbers in the query, a small
JSON body. Each refuses a malformed value with ``InvalidInput`` (a 400), never a 500."""

from __future__ import annotations

import re
import uuid

from quart import request

from asset_service.engine import fields as field_rules
from asset_service.engine.errors import InvalidInput


def asset_id_from_path(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput("the asset id must be a UUID") from None


def flag(name: str) -> bool:
    return flag_value(name, request.args.get(name))


def flag_value(name: str, raw: str | None) -> bool:
    """``flag`` on a value already read (the lean download path reads its own query)."""
    if raw is None:
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise InvalidInput(f"{name} must be true or false")


_DECIMAL = re.compile(r"[0-9]{1,18}")


def parse_decimal(raw: str | None) -> int | None:
    """An ASCII decimal of at most 18 digits, else ``None``. (``str.isdigit`` accepts "²",
    which ``int`` refuses, and ``int`` refuses more than 4300 digits.)"""
    if raw is None or not _DECIMAL.fullmatch(raw):
        return None
    return int(raw)


def positive_int(name: str) -> int | None:
    return positive_int_value(name, request.args.get(name))


def positive_int_value(name: str, raw: str | None) -> int | None:
    """``positive_int`` on a value already read."""
    if raw is None:
        return None
    value = parse_decimal(raw)
    if value is None or value < 1:
        raise InvalidInput(f"{name} must be a positive integer")
    return value


MAX_JSON_BODY = 256 * 1024


async def json_body() -> object:
    """The request's JSON body (small: metadata, never content)."""
    too_large = f"the JSON body is larger than {MAX_JSON_BODY // 1024} KiB"
    if request.content_length and request.content_length > MAX_JSON_BODY:
        raise InvalidInput(too_large)
    chunks: list[bytes] = []
    received = 0
    # Iterated with a cap, not awaited whole: a chunked body can't make us buffer without end.
    async for chunk in request.body:
        received += len(chunk)
        if received > MAX_JSON_BODY:
            raise InvalidInput(too_large)
        chunks.append(chunk)
    return field_rules.parse_json(b"".join(chunks), "the body")
