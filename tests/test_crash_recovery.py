"""Crash recovery: SIGKILL the real server mid-upload and right after uploads complete, restart
it on the same data dir, run ``cleanup --once`` with a zero temp TTL, and check what is left.

The invariant after recovery: every asset the API answered 201 for has a record and downloads
with its sha256; every record's blobs exist with the recorded checksum; no blob in a type bucket
lacks a record; nothing is left in the temp bucket or among the partial writes. Kill points are
chosen by a seeded ``random.Random`` (``CRASH_TEST_SEED`` overrides the seed) so a failure can be
replayed.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest
from server_process import (
    HttpResponse,
    ServerProcess,
    StreamedUpload,
    asset_blobs,
    catalog_assets,
    largest_upload_size,
    mint_token,
    partial_uploads,
    png_bytes,
    run_cleanup_once,
    server_env,
    sha256,
    temp_and_partial_files,
    text_bytes,
    wait_until,
)

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
SEED = int(os.environ.get("CRASH_TEST_SEED", "20240611"))
CUSTOMER = "acme"


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(customer=CUSTOMER)}"}


def upload(client: httpx.Client, filename: str, content: bytes) -> str:
    response = client.post(
        "/api/assets/upload",
        headers=auth_headers(),
        files={"file": (filename, content, "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["checksum"] == sha256(content)
    assert asset["size"] == len(content)
    return asset["asset_id"]


def commit_some_assets(server: ServerProcess, seed: int) -> dict[str, str]:
    """A few small documents and images; ``asset_id -> sha256``."""
    committed: dict[str, str] = {}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for n in range(3):
            content = text_bytes(1000 + 137 * n, seed + n)
            committed[upload(client, f"note-{n}.txt", content)] = sha256(content)
        for n in range(2):
            content = png_bytes(2000 + 91 * n, seed + n)
            committed[upload(client, f"pic-{n}.png", content)] = sha256(content)
    return committed


def assert_downloads(server: ServerProcess, expected: dict[str, str]) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for asset_id, checksum in expected.items():
            got = client.get(f"/api/assets/{asset_id}", headers=auth_headers())
            assert got.status_code == 200, (asset_id, got.text)
            body = client.get(f"/api/assets/{asset_id}/download", headers=auth_headers())
            assert body.status_code == 200, (asset_id, body.text)
            assert sha256(body.content) == checksum, asset_id


def assert_recovered(data_dir: Path, acknowledged: dict[str, str]) -> dict[str, str]:
    """The on-disk invariant after a cleanup pass; returns every record's ``id -> sha256``."""
    assert temp_and_partial_files(data_dir) == []
    records = {asset.asset_id: asset for asset in catalog_assets(data_dir, CUSTOMER)}
    missing = set(acknowledged) - set(records)
    assert not missing, f"answered 201 but no record: {missing}"
    blobs = asset_blobs(data_dir)
    referenced: set[tuple[str, str]] = set()
    for asset in records.values():
        for version in asset.versions:
            where = (asset.storage.bucket, version.storage_key)
            referenced.add(where)
            assert where in blobs, f"record {asset.asset_id} v{version.version}: no blob"
            assert sha256(blobs[where].read_bytes()) == version.checksum, where
        if asset.asset_id in acknowledged:
            assert asset.checksum == acknowledged[asset.asset_id]
    orphans = set(blobs) - referenced
    assert not orphans, f"blobs no record points to: {sorted(orphans)}"
    return {asset_id: asset.checksum for asset_id, asset in records.items()}


def kill_mid_upload(server: ServerProcess, content: bytes, kill_at: int) -> None:
    """Stream ``content`` as one upload and SIGKILL the server once it has written at least
    ``kill_at`` bytes of it to the temp area (the body is never finished)."""
    data_dir = server.data_dir
    with StreamedUpload(server, mint_token(customer=CUSTOMER), content) as streamed:
        while streamed.content_left and largest_upload_size(data_dir) < kill_at:
            streamed.send_content(256 * 1024)
        wait_until(
            lambda: largest_upload_size(data_dir) >= kill_at,
            20,
            f"{kill_at} bytes of the upload on disk",
        )
        server.kill()
    leftovers = partial_uploads(data_dir)
    assert leftovers, "the killed upload left nothing to clean up"
    assert max(path.stat().st_size for path in leftovers) >= kill_at


def test_sigkill_mid_upload_then_cleanup(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    cleanup_env = server_env(data_dir, temp_ttl=0)
    big = text_bytes(20 * MiB, SEED)

    # 1. Committed assets, then a 20 MiB upload killed part-way (at a seeded size).
    with ServerProcess(env) as server:
        committed = commit_some_assets(server, SEED)
        kill_mid_upload(server, big, rng.randrange(1, 12) * MiB)

    # 2. The server starts on the leftovers and still serves everything committed.
    with ServerProcess(env) as server:
        assert_downloads(server, committed)
        server.terminate()
        assert server.wait(10) == 0

    # 3. Cleanup with the server stopped removes the partial upload and nothing else.
    leftovers = temp_and_partial_files(data_dir)
    assert leftovers
    report = run_cleanup_once(cleanup_env)
    assert report["errors"] == []
    assert report["temp_removed"] + report["incomplete_removed"] == len(leftovers), report
    assert report["orphans_removed"] == 0, report
    assert assert_recovered(data_dir, committed) == committed

    with ServerProcess(env) as server:
        assert_downloads(server, committed)
        # 4. Again, but this time cleanup runs while a restarted server is up (and idle).
        committed |= commit_some_assets(server, SEED + 100)
        kill_mid_upload(server, big, rng.randrange(1, 12) * MiB)

    with ServerProcess(env) as server:
        report = run_cleanup_once(cleanup_env)
        assert report["errors"] == []
        assert report["temp_removed"] + report["incomplete_removed"] >= 1, report
        assert report["orphans_removed"] == 0, report
        assert assert_recovered(data_dir, committed) == committed
        assert_downloads(server, committed)
        # The running server is unharmed by the other process's pass.
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            content = text_bytes(5000, SEED + 999)
            committed[upload(client, "after.txt", content)] = sha256(content)
        assert_downloads(server, committed)


def read_answer(streamed: StreamedUpload) -> HttpResponse | None:
    try:
        return streamed.response()
    except (OSError, EOFError, ValueError):
        return None  # killed before (or while) answering


def test_sigkill_right_after_uploads_complete(tmp_path: Path) -> None:
    """Kill the server a seeded 0-40 ms after the last byte of an upload's body was sent, five
    rounds on one data dir; after each, cleanup --once (TTL 0) must leave the invariant true."""
    rng = random.Random(SEED + 1)
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    cleanup_env = server_env(data_dir, temp_ttl=0)
    acknowledged: dict[str, str] = {}
    known: dict[str, str] = {}  # every record seen after a recovery (answered or not)
    outcomes: list[str] = []
    for round_number in range(5):
        make = png_bytes if round_number % 2 else text_bytes
        content = make(rng.randrange(64 * 1024, 2 * MiB), SEED + round_number)
        delay = rng.uniform(0.0, 0.04)
        with ServerProcess(env) as server:
            assert_downloads(server, known)
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                steady = text_bytes(3000, SEED + 1000 + round_number)
                acknowledged[upload(client, f"steady-{round_number}.txt", steady)] = sha256(steady)
            with StreamedUpload(server, mint_token(customer=CUSTOMER), content) as streamed:
                streamed.finish()
                # The seeded kill point itself (not a wait for anything): the commit is somewhere
                # between receiving the last bytes and having answered.
                time.sleep(delay)
                server.kill()
                answer = read_answer(streamed)
        if answer is not None and answer.status == 201:
            asset = answer.json()
            assert asset["checksum"] == sha256(content)
            acknowledged[asset["asset_id"]] = asset["checksum"]
            outcomes.append(f"{delay * 1000:.1f}ms:201")
        else:
            outcomes.append(f"{delay * 1000:.1f}ms:{answer.status if answer else 'cut'}")
        report = run_cleanup_once(cleanup_env)
        outcomes[-1] += f"/{len(content)}B {report}"
        assert report["errors"] == [], report
        known = assert_recovered(data_dir, acknowledged)
    print("kill outcomes:\n" + "\n".join(outcomes))
    with ServerProcess(env) as server:
        assert_downloads(server, known)
        assert set(acknowledged) <= set(known)


def test_cleanup_removes_the_leftovers_of_every_crash_window(tmp_path: Path) -> None:
    """What a kill can leave between two steps of a commit, laid out by hand (the windows are
    too short to hit reliably with a timed kill): a partial write, a complete temp blob not yet
    promoted, a promoted blob whose record was never written (a new asset, and a new version of
    an existing one), a partial copy in a type bucket. Young leftovers survive the default TTL;
    with TTL 0 all go, and every committed asset is untouched."""
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    with ServerProcess(env) as server:
        committed = commit_some_assets(server, SEED + 7)
        server.terminate()
        assert server.wait(10) == 0
    root = data_dir / "blobs"
    existing = next(iter(committed))
    leftovers = {
        root / ".partial" / "temp-uploads" / f"{'a' * 32}.{'0' * 16}": b"half an upload",
        root / "temp-uploads" / ("f" * 32): b"a complete upload, never promoted",
        root / "document-assets" / CUSTOMER / str(uuid.uuid4()) / "v1": b"promoted, no record",
        root / "document-assets" / CUSTOMER / existing / "v2": b"a version never recorded",
        root / ".partial" / "image-assets" / f"{'b' * 32}.{'1' * 16}": b"half a copy",
    }
    for path, content in leftovers.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    report = run_cleanup_once(env)  # the default temp TTL: all of it is too young to judge
    assert report == {**report, "temp_removed": 0, "incomplete_removed": 0, "orphans_removed": 0}
    assert all(path.exists() for path in leftovers)

    report = run_cleanup_once(server_env(data_dir, temp_ttl=0))
    assert report["errors"] == [], report
    assert (report["temp_removed"], report["incomplete_removed"], report["orphans_removed"]) == (
        1,
        2,
        2,
    ), report
    assert not any(path.exists() for path in leftovers)
    assert assert_recovered(data_dir, committed) == committed
    with ServerProcess(env) as server:
        assert_downloads(server, committed)


def cleanup_lease(data_dir: Path) -> list[tuple[str, str, float]]:
    with contextlib.closing(sqlite3.connect(data_dir / "catalog.db")) as conn:
        return conn.execute("SELECT name, holder, expires_at FROM leases").fetchall()


def test_cleanup_once_after_a_crash_is_not_blocked_by_the_dead_servers_lease(
    tmp_path: Path,
) -> None:
    """The dead server's scheduled pass kept the period lease (so that other instances skip
    that period); an on-demand pass must not wait for it."""
    data_dir = tmp_path / "data"

    def period_taken_and_pass_over() -> bool:
        names = {name for name, _, _ in cleanup_lease(data_dir)}
        return names == {"cleanup-period"}

    with ServerProcess(server_env(data_dir, cleanup_interval=1)) as server:
        wait_until(period_taken_and_pass_over, 10, "a finished scheduled cleanup pass")
        server.kill()
    report = run_cleanup_once(server_env(data_dir, temp_ttl=0), timeout=5)
    assert report["errors"] == []
