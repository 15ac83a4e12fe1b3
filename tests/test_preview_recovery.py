"""Previews across crashes and from the CLI, with the real server as a subprocess.

A SIGKILL between a version's commit and its preview: the pending state was stored before the
commit, so the restarted server finds it in the catalog and makes the preview. To hold the
preview back until the kill, an outside plugin is installed the way pip would (a module and a
``.dist-info`` on the server's ``PYTHONPATH``) whose renderer waits for a gate file.

``asset-service previews --missing`` makes the previews of assets stored while previews were
off (as if before they existed), and a second run finds nothing to do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import trio
from server_process import ServerProcess, mint_token, run_cli, server_env, wait_until

from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.preview_types import PreviewState, PreviewStatus
from tests.preview_media import rotated_jpeg

GATED_PLUGIN = """
import json, os, time
from asset_service.plugins import Previewer, RenderedPreview, hookimpl


def render(request):
    gate = os.environ["PREVIEW_TEST_GATE"]
    deadline = time.monotonic() + request.timeout
    while not os.path.exists(gate):  # held back until the test opens the gate
        if time.monotonic() > deadline:
            raise RuntimeError("the gate stayed shut")
        time.sleep(0.05)
    path = request.out_dir / "outline.json"
    path.write_text(json.dumps({"bytes": request.source.stat().st_size}))
    return [RenderedPreview("outline", path)]


class GatedPlugin:
    @hookimpl
    def previewers(self, mime_type):
        if mime_type == "text/plain":
            return [Previewer("outline", "application/json", render)]
        return None
"""


def install_gated_plugin(site: Path) -> None:
    dist_info = site / "gated_preview-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gated-preview\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[asset_service.plugins]\ngated = gated_preview:GatedPlugin\n"
    )
    (site / "gated_preview.py").write_text(GATED_PLUGIN)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token()}"}


def stored_previews(data_dir: Path, asset_id: str) -> list[PreviewState]:
    async def read() -> list[PreviewState]:
        catalog = SqliteCatalog(data_dir / "catalog.db")
        await catalog.open()
        try:
            return await catalog.previews_of(asset_id)
        finally:
            await catalog.close()

    return trio.run(read)


def test_a_preview_pending_at_a_sigkill_is_made_after_the_restart(tmp_path):
    site, gate, data_dir = tmp_path / "site", tmp_path / "gate", tmp_path / "data"
    install_gated_plugin(site)
    # The lease a killed server held on the version lasts the preview timeout + 10 s.
    env = server_env(data_dir, preview_timeout=8)
    env["PYTHONPATH"] = str(site)
    env["PREVIEW_TEST_GATE"] = str(gate)
    with ServerProcess(env) as server, httpx.Client(base_url=server.base_url) as client:
        files = {"file": ("notes.txt", b"twelve bytes", "text/plain")}
        created = client.post("/api/assets/upload", files=files, headers=auth())
        assert created.status_code == 201, created.text
        asset_id = created.json()["asset_id"]
        assert created.json()["previews"][0]["status"] == "pending"
        url = f"/api/assets/{asset_id}/previews/outline"
        assert client.get(url, headers=auth()).status_code == 202
        server.kill()
    [state] = stored_previews(data_dir, asset_id)
    assert state.status == PreviewStatus.PENDING
    gate.touch()
    with ServerProcess(env) as server, httpx.Client(base_url=server.base_url) as client:
        done = wait_until(
            lambda: (r := client.get(url, headers=auth())).status_code == 200 and r,
            30,
            "the preview after the restart",
            interval=0.1,
        )
        assert done.json() == {"bytes": 12}


def test_previews_missing_makes_them_once_and_is_idempotent(tmp_path):
    data_dir = tmp_path / "data"
    off = server_env(data_dir, previews="off")
    with ServerProcess(off) as server, httpx.Client(base_url=server.base_url) as client:
        files = {"file": ("p.jpg", rotated_jpeg(64, 48), "image/jpeg")}
        created = client.post("/api/assets/upload", files=files, headers=auth())
        assert created.status_code == 201, created.text
    asset_id = created.json()["asset_id"]
    assert stored_previews(data_dir, asset_id) == []
    first, second = (
        json.loads(run_cli(server_env(data_dir), "previews", "--missing")) for _ in range(2)
    )
    assert first == {"assets_seen": 1, "versions_done": 1, "ready": 1, "failed": 0}
    assert second["versions_done"] == 0
    [thumbnail] = stored_previews(data_dir, asset_id)
    assert thumbnail.status == PreviewStatus.READY
    assert [v.variant for v in thumbnail.variants] == ["1024", "512", "256", "128"]


def test_previews_missing_with_previews_off_is_a_configuration_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "asset_service.cli", "previews", "--missing"],
        env=server_env(tmp_path / "data", previews="off"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"ASSET_PREVIEWS=off" in done.stderr
