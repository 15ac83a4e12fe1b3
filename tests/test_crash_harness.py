"""The crash harness (``tests/crash_harness.py``, ``make crash``) on a shorter plan inside
``make test``: the real server SIGKILLed at seeded moments amid uploads, new versions and edits,
restarted, cleaned once, and checked against everything the API acknowledged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from crash_harness import run_harness

pytestmark = pytest.mark.slow

OPERATIONS = int(os.environ.get("ASSET_CRASH_OPS", "60"))
SEED = int(os.environ.get("CRASH_TEST_SEED", "20261203"))


def test_every_acknowledged_change_survives_seeded_kills(tmp_path: Path) -> None:
    # run_harness raises InvariantBroken (an AssertionError) at the first contradiction.
    report = run_harness(
        operations=OPERATIONS, seed=SEED, clients=3, data_dir=tmp_path / "data", max_seconds=300
    )
    print(json.dumps(report, indent=2))
    assert report["server_errors"] == []
    assert sum(report["outcomes"].values()) == OPERATIONS  # each operation was sent once
    assert report["kills"] >= OPERATIONS // 8
    assert report["checked"]["records"] == report["assets"] > 0
    acknowledged = sum(n for o, n in report["outcomes"].items() if o.endswith(("200", "201")))
    assert acknowledged >= OPERATIONS // 2, report["outcomes"]
