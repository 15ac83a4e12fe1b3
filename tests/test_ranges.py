"""Range parsing against nginx's answers (docs/decisions.md), without a server."""

from __future__ import annotations

import pytest

from asset_service.http.ranges import ByteRange, RangeNotSatisfiable, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=-500", ByteRange(500, 999)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=0-999999999999", ByteRange(0, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=999-999", ByteRange(999, 999)),
        (" bytes = 10 - 19 ", ByteRange(10, 19)),
    ],
)
def test_satisfiable_ranges(header, expected):
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=5000-6000", "bytes=5-2", "bytes=abc", "bytes=-0", "bytes=-"]
)
def test_unsatisfiable_or_malformed_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, SIZE)


@pytest.mark.parametrize("header", [None, "items=0-5", "bytes=0-1,5-6"])
def test_whole_body_answers(header):
    assert parse_range(header, SIZE) is None


def test_content_range():
    assert ByteRange(500, 999).content_range(SIZE) == "bytes 500-999/1000"
    assert ByteRange(500, 999).length == 500
