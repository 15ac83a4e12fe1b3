"""Conditional requests: on content, named by its ETag and Last-Modified, ``If-None-Match`` and
``If-Modified-Since`` (answer 304) and ``If-Range`` (serve the range only if the content is still
the one named); on an asset record, ``If-Match`` with its revision ETag (``"r7"``)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from quart import request

from asset_service.engine.errors import PreconditionFailed

from .params import parse_decimal
from .plain_request import HeaderLookup


def etag_matches(header: str, etag: str) -> bool:
    candidates = [part.strip() for part in header.split(",")]
    weak_free = [c[2:] if c.startswith("W/") else c for c in candidates]
    return "*" in candidates or etag in weak_free


def not_modified(etag: str, last_modified: Any, headers: HeaderLookup) -> bool:
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if_modified_since = headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            return last_modified <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, OverflowError):
            return False
    return False


def range_applies(etag: str, last_modified: Any, headers: HeaderLookup) -> bool:
    """``If-Range``: serve the range only if the representation is still the one named."""
    if_range = headers.get("If-Range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', "W/")):
        return if_range == etag  # strong comparison: a weak tag never matches
    try:
        return parsedate_to_datetime(if_range) == last_modified
    except (TypeError, ValueError, OverflowError):
        return False


def if_match_revision() -> int | None:
    """The revision an ``If-Match: "r7"`` header pins, if any."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/")
    revision = parse_decimal(tag[2:-1]) if tag.startswith('"r') and tag.endswith('"') else None
    if revision is None:
        raise PreconditionFailed('If-Match must be the asset\'s ETag, such as "r3"')
    return revision
