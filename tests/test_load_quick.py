"""``make load`` (``bench/load.py``) in little inside ``make test``: the real server on
loopback, 16 clients for 8 s mixing uploads, ranged downloads, searches and edits. Every request
must succeed and the server's RSS stay under the limit; the growth check needs a longer run
(``make load``: 64 clients for 60 s) to see past the warm-up, so it is not asserted here."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.load import KINDS, report, run

pytestmark = pytest.mark.slow


def test_mixed_load_without_errors(tmp_path: Path) -> None:
    args = argparse.Namespace(
        clients=16, seconds=8.0, max_rss_mib=300.0, max_growth=0.10, tmp_dir=str(tmp_path)
    )
    result = run(args)
    print(report(result))
    assert result["errors"] == 0, result["error_samples"]
    assert result["stuck_clients"] == 0
    kinds = result["kinds"]
    assert isinstance(kinds, dict)
    assert all(kinds[kind]["requests"] > 0 for kind in KINDS), kinds
    rss = result["rss"]
    assert isinstance(rss, dict)
    assert 0 < rss["max_mib"] <= rss["limit_mib"], rss
