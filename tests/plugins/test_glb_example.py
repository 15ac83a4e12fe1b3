"""The worked example, ``examples/glb``: a package outside the core adds the asset type
``model3d`` through its entry point, and GLB files go through the HTTP API like any other type.

How it is installed here: the ``glb_installed`` fixture lays out what ``pip install`` leaves in
site-packages — the module, and a ``.dist-info`` whose ``entry_points.txt`` is generated from the
example's own ``pyproject.toml`` — in a temporary directory put on ``sys.path`` for the test.
``importlib.metadata`` (which pluggy-style loaders and ours use) finds it exactly as it finds a
pip-installed distribution. Running pip instead would need a build backend (setuptools and
wheel, or network access for build isolation) that a clean CI machine's venv does not have, and
would leave the plugin in the shared venv for every other test.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from asset_service.plugins.errors import PluginConfigError
from asset_service.plugins.loading import candidates, load_plugins
from tests.api.helpers import assert_problem
from tests.conftest import data_files, with_settings
from tests.media import glb_bytes, tiny_png

from .conftest import created

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "glb"


def install_example(site: Path) -> None:
    """What ``pip install examples/glb`` puts in site-packages, from the example's metadata."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    entry_points = project["entry-points"]["asset_service.plugins"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[asset_service.plugins]\n"
        + "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    )
    shutil.copy(EXAMPLE / "asset_service_glb.py", site / "asset_service_glb.py")


@pytest.fixture
def glb_installed(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    install_example(site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("asset_service_glb", None)


@pytest.fixture
def plugins_toml(tmp_path) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text("[plugins.glb.options]\nmax_size = 100000\n")
    return path


@pytest.fixture
def settings(settings, glb_installed, plugins_toml):
    """The service's settings, with the example installed and configured before it starts."""
    return with_settings(settings, plugins_config=plugins_toml)


def test_the_entry_point_is_found_as_an_installed_distribution(glb_installed):
    found = candidates()["glb"]
    assert found.origin == "asset-service-glb 0.1.0"
    assert found.entry_point.value == "asset_service_glb:GlbPlugin"
    assert "glb" not in candidates(installed=False)


def test_the_core_does_not_know_the_example():
    for source in (ROOT / "asset_service").rglob("*.py"):
        text = source.read_text().lower()
        assert "gltf" not in text and "model3d" not in text, source


async def test_glb_upload_over_http(upload, settings):
    asset = created(await upload(glb_bytes(vertices=6, generator="Blender"), "chair.glb"))
    assert (asset["type"], asset["mime_type"]) == ("model3d", "model/gltf-binary")
    assert asset["storage"]["bucket"] == "model3d-assets"
    assert asset["extracted"] == {
        "format": "glb",
        "vertex_count": 6,
        "meshes": 1,
        "nodes": 1,
        "generator": "Blender",
    }
    assert f"model3d-assets/{asset['storage']['key']}" in data_files(settings)


async def test_it_says_it_has_no_preview(upload, client, auth):
    asset = created(await upload(glb_bytes(), "chair.glb"))
    assert asset["previews"] == []
    response = await client.get(
        f"/api/assets/{asset['asset_id']}/previews/thumbnail", headers=auth()
    )
    assert "no 'thumbnail' preview" in assert_problem(response, 404)["detail"]


async def test_the_new_type_works_everywhere_a_type_does(upload, client, auth):
    typed = created(await upload(glb_bytes(), "a.glb", "model/gltf-binary", type="model3d"))
    listed = await client.get("/api/library/model3d", headers=auth())
    assert listed.status_code == 200, listed.text
    assert [item["asset_id"] for item in listed.json()["items"]] == [typed["asset_id"]]


async def test_its_mime_type_declares_it(upload, leftovers):
    response = await upload(tiny_png(), "not-a-model.glb", "model/gltf-binary")
    problem = assert_problem(response, 415)
    assert "model3d" in problem["detail"]
    await leftovers.assert_clean()


async def test_a_broken_glb_is_422_and_leaves_nothing(upload, leftovers):
    response = await upload(glb_bytes()[:-8], "cut.glb")
    assert "says" in assert_problem(response, 422)["detail"]
    broken_json = bytearray(glb_bytes())
    broken_json[20] = ord("!")
    response = await upload(bytes(broken_json), "bad.glb")
    assert "GLB file could not be read" in assert_problem(response, 422)["detail"]
    await leftovers.assert_clean()


async def test_its_option_from_plugins_toml_applies(upload, leftovers):
    response = await upload(glb_bytes(vertices=20000), "huge.glb")  # ~240 KB > 100000
    assert_problem(response, 413)
    await leftovers.assert_clean()


def test_disabled_in_plugins_toml(glb_installed, tmp_path):
    config = tmp_path / "off.toml"
    config.write_text("[plugins.glb]\nenabled = false\n")
    inspector = load_plugins(config)
    assert "model3d" not in inspector.asset_types()
    assert "glb" not in inspector.plugins


def test_an_unknown_option_of_the_example_is_refused_at_start(glb_installed, tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("[plugins.glb.options]\nmax_sise = 10\n")
    with pytest.raises(PluginConfigError, match=r"'glb' has no option 'max_sise'.*max_size"):
        load_plugins(config)
