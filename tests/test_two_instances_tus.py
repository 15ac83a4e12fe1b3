"""Two real ``asset-service serve`` processes on one set of backends (issue 15): a shared SQLite
data dir, or one S3 stand-in (moto server) and one MongoDB wire server (nx-27017).

- a tus upload begun on A is finished on B;
- A is SIGKILLed in the middle of a commit (its test pause point, ``ASSET_TEST_TUS_COMMIT_PAUSE``,
  stops it right after the asset was made): B's ``HEAD`` takes the commit over once A's lease
  lapsed (within ~10 s) and answers with the asset A made — exactly one asset;
- new versions of one asset sent to A and B at once stay consecutive (1..n, no gap, no twice).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pymongo
import pytest

from tests.backends import drop_buckets, moto_s3_url, new_bucket_prefix
from tests.server_process import (
    ServerProcess,
    catalog_assets,
    mint_token,
    server_env,
    text_bytes,
)

TUS = {"Tus-Resumable": "1.0.0"}
PATCH_HEADERS = {**TUS, "Content-Type": "application/offset+octet-stream"}
#: how long B may take over a dead commit: the lease's 10 s, and room for a loaded machine
TAKEOVER_WITHIN = 20.0


class Backends:
    """The shared backends: the environment of one more instance (``env``) and the assets
    stored with a given content, read from the catalog itself (``asset_ids``: the search
    route can't be used — nx-27017 lacks the aggregations it needs)."""

    def __init__(self, tmp_path: Path, s3_url: str = "", catalog: str = "") -> None:
        self.tmp_path, self.s3_url, self.catalog = tmp_path, s3_url, catalog
        self._count = 0

    def env(self, **settings: object) -> dict[str, str]:
        if not self.catalog:
            return server_env(self.tmp_path / "data", **settings)
        self._count += 1
        own = self.tmp_path / f"instance-{self._count}" / "data"
        return server_env(own, blob_store=self.s3_url, catalog=self.catalog, **settings)

    def asset_ids(self, content: bytes) -> list[str]:
        checksum = hashlib.sha256(content).hexdigest()
        if not self.catalog:
            stored = catalog_assets(self.tmp_path / "data", "acme")
            return [asset.asset_id for asset in stored if asset.checksum == checksum]
        with pymongo.MongoClient(self.catalog, serverSelectionTimeoutMS=5000) as client:
            database = client.get_default_database()
            return [doc["asset_id"] for doc in database.assets.find({"checksum": checksum})]


@pytest.fixture(params=["sqlite", "s3-mongo"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backends]:
    if request.param == "sqlite":
        yield Backends(tmp_path)
        return
    s3_url = moto_s3_url(request.getfixturevalue("moto_url"), new_bucket_prefix())
    catalog = f"{request.getfixturevalue('nx_url')}/t{uuid.uuid4().hex[:12]}"
    try:
        yield Backends(tmp_path, s3_url, catalog)
    finally:
        drop_buckets(s3_url)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token()}"}


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def begin(client: httpx.Client, content: bytes, name: str) -> str:
    created = client.post(
        "/api/uploads/",
        headers={
            **auth(),
            **TUS,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": meta(filename=name),
        },
    )
    assert created.status_code == 201, created.text
    return created.headers["Location"]


def patch(client: httpx.Client, url: str, offset: int, body: bytes) -> httpx.Response:
    return client.patch(
        url, headers={**auth(), **PATCH_HEADERS, "Upload-Offset": str(offset)}, content=body
    )


def test_tus_across_two_instances(backends: Backends) -> None:
    with (
        ServerProcess(backends.env()) as b,
        ServerProcess(backends.env()) as a,
        httpx.Client(base_url=a.base_url, timeout=30) as on_a,
        httpx.Client(base_url=b.base_url, timeout=30) as on_b,
    ):
        asset_id = begun_on_a_finished_on_b(on_a, on_b, backends)
        versions_on_both_stay_consecutive(on_a, on_b, asset_id)
    with (
        ServerProcess(backends.env()) as b,
        ServerProcess(backends.env(test_tus_commit_pause="asset-created")) as a,
        httpx.Client(base_url=a.base_url, timeout=60) as on_a,
        httpx.Client(base_url=b.base_url, timeout=30) as on_b,
    ):
        a_dies_mid_commit_and_b_takes_over(a, on_a, on_b, backends)


def begun_on_a_finished_on_b(on_a: httpx.Client, on_b: httpx.Client, backends: Backends) -> str:
    content = text_bytes(96 * 1024, seed=1)
    url = begin(on_a, content, "begun-on-a.txt")
    assert patch(on_a, url, 0, content[:40_000]).status_code == 204
    assert on_b.head(url, headers={**auth(), **TUS}).headers["Upload-Offset"] == "40000"
    done = patch(on_b, url, 40_000, content[40_000:])
    assert done.status_code == 204, done.text
    asset_id = done.headers["Asset-Id"]
    assert backends.asset_ids(content) == [asset_id]
    return asset_id


def versions_on_both_stay_consecutive(
    on_a: httpx.Client, on_b: httpx.Client, asset_id: str
) -> None:
    clients = [on_a, on_b] * 4

    def new_version(n: int) -> int:
        answer = clients[n].post(
            f"/api/assets/{asset_id}/versions",
            headers=auth(),
            files={"file": (f"v{n}.txt", text_bytes(2048, seed=100 + n), "text/plain")},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["current_version"]

    with ThreadPoolExecutor(len(clients)) as pool:
        numbers = sorted(pool.map(new_version, range(len(clients))))
    assert numbers == list(range(2, 2 + len(clients)))
    record = on_b.get(f"/api/assets/{asset_id}", headers=auth()).json()
    assert [v["version"] for v in record["versions"]] == list(range(1, 2 + len(clients)))


def a_dies_mid_commit_and_b_takes_over(
    a: ServerProcess, on_a: httpx.Client, on_b: httpx.Client, backends: Backends
) -> None:
    content = text_bytes(64 * 1024, seed=2)
    url = begin(on_a, content, "dies-on-a.txt")
    last = threading.Thread(target=_send_hoping, args=(on_a, url, content), daemon=True)
    last.start()
    a.wait_for_log("paused at asset-created", timeout=20)
    a.kill()
    killed_at = time.monotonic()
    last.join(10)
    asset_id = None
    while asset_id is None:
        assert time.monotonic() - killed_at < TAKEOVER_WITHIN, "B never took the commit over"
        looked = on_b.head(url, headers={**auth(), **TUS})
        assert looked.status_code == 200, looked.text
        assert looked.headers["Upload-Offset"] == str(len(content))
        asset_id = looked.headers.get("Asset-Id")
        time.sleep(0.2)  # a synchronous test, polling a server
    print(f"takeover answered {time.monotonic() - killed_at:.1f} s after the SIGKILL")
    # the asset A made, and no second one
    assert backends.asset_ids(content) == [asset_id]
    again = patch(on_b, url, len(content), b"")
    assert again.status_code == 204 and again.headers["Asset-Id"] == asset_id
    assert on_b.get(f"/api/assets/{asset_id}/download", headers=auth()).content == content


def _send_hoping(client: httpx.Client, url: str, content: bytes) -> None:
    """The last PATCH to A, which never answers (A is killed meanwhile)."""
    with contextlib.suppress(httpx.TransportError):
        patch(client, url, 0, content)
