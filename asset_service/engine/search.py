"""Search semantics shared by every catalog adapter, so the same query gives the same answer on
SQLite and MongoDB: how text becomes tokens, which fields sort and how, and the cursor format.

Text search is word-prefix matching over an indexed set of tokens (not SQLite FTS nor MongoDB
``$text``, which differ from each other and which mongomock lacks): every word of the query must
be the prefix of some token of the asset's name, title, description, tags or original file
name, compared lower-cased and without accents.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .model import Asset

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 10
#: sorts after every token that starts with a given prefix (the top of the Unicode range)
PREFIX_END = "\U0010ffff"


def fold(text: str) -> str:
    """Lower-case, without accents: ``Éclair`` → ``eclair``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def asset_tokens(asset: Asset) -> set[str]:
    meta = asset.metadata
    sources = [asset.name, asset.original_filename, meta.title or "", meta.description or ""]
    sources += meta.tags
    return {word for source in sources for word in words(source)}


def query_words(text: str) -> list[str]:
    found = list(dict.fromkeys(words(text)))
    if len(found) > MAX_QUERY_WORDS:
        raise ValueError(f"at most {MAX_QUERY_WORDS} words in a search")
    return found


def name_key(asset: Asset) -> str:
    """What ``sort=name`` compares."""
    return fold(asset.name)


@dataclass(frozen=True, slots=True)
class SortOrder:
    """The order of a listing: one of ``SORT_FIELDS``, ascending or descending, ties broken
    by ``asset_id`` in the same direction. Parsed once where a request comes in
    (``parse``); the catalog adapters only read it."""

    field: str
    descending: bool

    def __post_init__(self) -> None:
        if self.field not in SORT_FIELDS:
            raise ValueError(f"sort must be one of {', '.join(SORT_FIELDS)} (with - to reverse)")

    @classmethod
    def parse(cls, value: str) -> SortOrder:
        """``name`` → ascending by name, ``-size`` → largest first. ``ValueError`` for a field
        that is not sortable."""
        return cls(value.removeprefix("-"), value.startswith("-"))

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field

    def key(self, asset: Asset) -> Any:
        """The value this order compares for ``asset`` (ties are broken by ``asset_id``)."""
        return SORT_FIELDS[self.field](asset)


#: a missing duration sorts as -1: before every real one ascending, after them descending
SORT_FIELDS = {
    "created_at": lambda a: a.to_document()["created_at"],
    "updated_at": lambda a: a.to_document()["updated_at"],
    "name": name_key,
    "size": lambda a: a.size,
    "duration": lambda a: -1.0 if a.duration is None else float(a.duration),
}


#: newest first
NEWEST_FIRST = SortOrder("created_at", descending=True)


def encode_cursor(order: SortOrder, value: Any, asset_id: str) -> str:
    raw = json.dumps([order.field, value, asset_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: longer than any cursor an adapter issues (a name's sort key: 255 characters, which NFKD
#: may expand up to 18-fold, each escaped to 6 in JSON, in base64)
MAX_CURSOR_CHARS = 65536
#: sort values a cursor may carry: what SQLite's INTEGER and MongoDB's int64 hold
MAX_CURSOR_INT = 2**63 - 1
MAX_CURSOR_TEXT = 8192
MAX_CURSOR_ID = 64


def decode_cursor(cursor: str, order: SortOrder) -> tuple[Any, str]:
    """The (sort value, asset_id) a page ended at. ``ValueError`` for anything we did not issue
    for this sort field: the shape is checked in full (a value too large for the backends, a
    non-finite number, JSON nested without end are all refused here, never by a backend)."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise ValueError("invalid cursor")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw, parse_constant=_refuse_constant)
    # JSON and UTF-8 errors are ValueErrors; deep nesting a RecursionError
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise ValueError("invalid cursor") from exc
    if not (isinstance(value, list) and len(value) == 3 and value[0] == order.field):
        raise ValueError("invalid cursor (or one from another sort order)")
    _, position, asset_id = value
    if not isinstance(asset_id, str) or not 0 < len(asset_id) <= MAX_CURSOR_ID:
        raise ValueError("invalid cursor")
    if not _valid_position(order.field, position):
        raise ValueError("invalid cursor")
    return position, asset_id


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} in a cursor")


def _valid_position(field: str, position: Any) -> bool:
    if isinstance(position, bool):
        return False
    if field == "size":
        return isinstance(position, int) and 0 <= position <= MAX_CURSOR_INT
    if field == "duration":
        if isinstance(position, int):
            return -1 <= position <= MAX_CURSOR_INT
        return isinstance(position, float) and math.isfinite(position) and position >= -1
    return isinstance(position, str) and len(position) <= MAX_CURSOR_TEXT
