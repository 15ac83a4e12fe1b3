"""A few requests through the benchmark suite's own helpers (``bench/``), so that `make test`
notices when they break: the raw-socket load client against the real app, the bulk seeding
of a catalog through the SQLite adapter's internals, and the service behind nginx with
X-Accel-Redirect as bench.workers starts it. Fast; the benchmarks themselves are
`make bench`."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
import trio

from asset_service.engine.adapters.sqlite import SqliteCatalog
from bench import catalog as bench_catalog
from bench.client import Connection, run_load
from bench.run import upload, write_random_wav
from bench.servers import AccelFront, OurServer, find_nginx, new_secret
from bench.workers import handed_to_nginx

pytestmark = pytest.mark.file_store_only

CONTENT = b"".join(b"line %06d of a plain text file\n" % n for n in range(8000))


async def test_the_load_client_gets_ranges_and_whole_files(base_url, auth, create_asset):
    asset = await create_asset(CONTENT, "data.txt")
    path = f"/api/assets/{asset['asset_id']}/download"
    headers = auth()

    def ranged(rng: random.Random) -> tuple[str, dict[str, str]]:
        start = rng.randrange(0, len(CONTENT) - 4096)
        return path, {**headers, "Range": f"bytes={start}-{start + 4095}"}

    # in a worker thread: the client is blocking, the server runs on this test's event loop
    result = await trio.to_thread.run_sync(
        lambda: run_load(
            base_url,
            ranged,
            connections=2,
            max_requests=20,
            max_seconds=10,
            expect=(206,),
            expect_length=4096,
            record_latency=True,
        )
    )
    assert result.errors == []
    assert result.requests == 20
    assert len(result.latencies) == 20

    def whole() -> tuple[int, int, str]:
        digest = hashlib.sha256()
        with Connection(base_url, timeout=10) as connection:
            response = connection.request("GET", path, headers, digest=digest)
            first = {**headers, "Range": "bytes=0-9"}
            kept = connection.request("GET", path, first, keep_body=True)
        assert kept.body == CONTENT[:10]
        return response.status, response.length, digest.hexdigest()

    status, length, checksum = await trio.to_thread.run_sync(whole)
    assert (status, length) == (200, len(CONTENT))
    assert checksum == hashlib.sha256(CONTENT).hexdigest()


def test_the_client_refuses_anything_but_loopback():
    with pytest.raises(ValueError, match="loopback"):
        Connection("http://192.0.2.1:80")


async def test_bulk_seeding_reads_back_through_the_port(tmp_path: Path):
    corpus = bench_catalog.make_assets(300)
    catalog = SqliteCatalog(tmp_path / "catalog.db")
    await catalog.open()
    try:
        await bench_catalog.seed_sqlite(catalog, corpus.assets, batch=100)
        await bench_catalog.verify(catalog, corpus)
        for search in bench_catalog.searches(corpus):
            seconds, count = await bench_catalog.run_search(catalog, search)
            assert seconds >= 0 and count <= search.query.limit
    finally:
        await catalog.close()


def test_the_accel_front_sends_what_the_service_authorised(tmp_path: Path):
    """bench.workers' "ours x2 + nginx (X-Accel-Redirect)": the real service behind a real
    nginx configured as in BENCHMARKS.md; the file comes from nginx, the refusal from the
    service."""
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx is not installed (make nginx)")
    source = tmp_path / "a.wav"
    sha256 = write_random_wav(source, 3 * 65536 + 17)
    size = source.stat().st_size
    app = OurServer(
        tmp_path / "data",
        tmp_path / "ours.log",
        secret=new_secret(),
        extra_env={"ASSET_WORKERS": "1", "ASSET_PREVIEWS": "off"},
    )
    with AccelFront(binary, app, tmp_path / "nginx", workers="1").start() as front:
        auth = {"Authorization": f"Bearer {app.token(role='admin')}"}
        stored = upload(front, "/api/assets/upload", auth, source, 60)  # proxied through
        path = f"/api/assets/{stored['asset_id']}/download"
        handed_to_nginx(front, path, auth)
        digest = hashlib.sha256()
        with Connection(front.base_url, timeout=30) as connection:
            whole = connection.request("GET", path, auth, digest=digest)
            ranged = connection.request("GET", path, {**auth, "Range": "bytes=10-19"})
            refused = connection.request("GET", path, {})
    assert (whole.status, whole.length, digest.hexdigest()) == (200, size, sha256)
    assert (ranged.status, ranged.length) == (206, 10)
    assert refused.status == 401
