"""``engine.memory.unpool_large_buffers``: the 1 MiB chunks of every transfer are reused from
the heap (no page faults per chunk) while blocks of ``LARGE_BUFFER`` and up go back to the
system. Run in a fresh interpreter each: the settings are process-wide."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc settings",
)

PROBE = """
import json, os, resource, sys
from asset_service.engine import memory
if sys.argv[1] == "unpooled":
    memory.unpool_large_buffers()

def faults_per_chunk(size, rounds=64):
    for _ in range(4):  # warm the heap up
        os.urandom(size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        chunk = os.urandom(size)  # a fresh block, written through, freed at once
        del chunk
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds

print(json.dumps({
    "chunk": faults_per_chunk(1024 * 1024),
    "large": faults_per_chunk(2 * memory.LARGE_BUFFER),
}))
"""


def _faults(mode: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_chunks_are_reused_and_large_blocks_are_given_back():
    faults = _faults("unpooled")
    # A 1 MiB chunk is 256 pages: faulting them in every time is what the trim threshold
    # (fixed at 128 KiB by glibc once the mmap threshold is set) used to cost.
    assert faults["chunk"] < 8, faults
    # A block of 8 MiB is mapped and unmapped each time, so its pages fault every time: 2048
    # of them, or a few with transparent huge pages — but never none, as a reused block.
    assert faults["large"] >= 2, faults
