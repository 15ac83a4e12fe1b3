"""The catalog checks the shape of every cursor it decodes, whoever hands it one: a value the
backends can't hold, a non-finite number or JSON nested without end is a ``ValueError`` (a 400
at the HTTP layer, which also checks the cursor's signature first: ``http/cursors.py``)."""

from __future__ import annotations

import base64
import json

import pytest

from asset_service.engine.search import SortOrder, decode_cursor, encode_cursor


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "text"),
    [
        ("size", json.dumps(["size", 10**30, "x"])),
        ("size", json.dumps(["size", -1, "x"])),
        ("size", json.dumps(["size", 1.5, "x"])),
        ("size", "[" * 3000 + "]" * 3000),
        ("duration", '["duration", NaN, "x"]'),
        ("duration", '["duration", Infinity, "x"]'),
        ("duration", json.dumps(["duration", True, "x"])),
        ("name", json.dumps(["name", {"$gt": ""}, "x"])),
        ("name", json.dumps(["name", "a", "x" * 65])),
        ("name", json.dumps(["name", "a", ""])),
        ("name", json.dumps(["name", "a" * 10_000, "x"])),
        ("created_at", json.dumps(["updated_at", "2020", "x"])),
    ],
)
def test_a_cursor_of_another_shape_is_refused(sort: str, text: str):
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor(raw(text), SortOrder.parse(sort))


@pytest.mark.parametrize(
    ("sort", "value"), [("size", 2**40), ("duration", -1.0), ("duration", 12), ("name", "é")]
)
def test_cursors_the_catalog_issues_decode(sort: str, value: object):
    order = SortOrder.parse(sort)
    assert decode_cursor(encode_cursor(order, value, "some-id"), order) == (value, "some-id")
