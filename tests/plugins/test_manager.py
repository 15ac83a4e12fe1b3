"""The plugin manager: ``plugins.toml``, loading built-in and installed plugins by name, and
every mistake caught at start with a message naming the plugin, the option or the hook."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

from asset_service.config import ConfigError, Settings
from asset_service.engine.errors import UnprocessableContent, UnsupportedContent
from asset_service.engine.events import Event
from asset_service.plugins import AssetType, Description, Detected, hookimpl
from asset_service.plugins.builtin.image import ImagePlugin
from asset_service.plugins.errors import PluginConfigError
from asset_service.plugins.inspector import PluginInspector
from asset_service.plugins.loading import DEFAULT_CONFIG, load_plugins, read_config
from asset_service.wiring import make_inspector
from tests.media import tiny_png


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return path


def test_the_repository_plugins_toml_loads_the_four_builtins():
    inspector = load_plugins(Path(__file__).resolve().parents[2] / "plugins.toml")
    assert list(inspector.plugins)[:4] == ["audio", "image", "video", "document"]
    assert {
        t: inspector.asset_types()[t].bucket for t in ("audio", "image", "video", "document")
    } == {
        "audio": "audio-assets",
        "image": "image-assets",
        "video": "video-assets",
        "document": "document-assets",
    }
    assert all(p.origin == "built-in" for p in list(inspector.plugins.values())[:4])


def test_make_inspector_reads_the_configured_file(tmp_path):
    config = write(tmp_path, "[plugins.audio]\nenabled = false\n")
    inspector = make_inspector(Settings(plugins_config=config))
    assert isinstance(inspector, PluginInspector)
    assert "audio" not in inspector.asset_types()


def test_a_missing_default_file_means_defaults_but_a_named_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_config(DEFAULT_CONFIG) == {}
    assert set(load_plugins(DEFAULT_CONFIG).asset_types()) >= {
        "audio",
        "image",
        "video",
        "document",
    }
    with pytest.raises(PluginConfigError, match="no such file"):
        load_plugins(tmp_path / "elsewhere.toml")


def test_a_plugin_mistake_is_a_configuration_error_once_wired(tmp_path):
    """The plugins raise their own error (they know nothing of the service's settings); the
    composition root makes it the ``ConfigError`` the CLI exits 2 for."""
    assert not issubclass(PluginConfigError, ConfigError)
    with pytest.raises(ConfigError, match="unknown plugin 'nope'") as raised:
        make_inspector(Settings(plugins_config=write(tmp_path, "[plugins.nope]\n")))
    assert isinstance(raised.value.__cause__, PluginConfigError)


def test_disabled_plugin_and_options(tmp_path):
    config = write(
        tmp_path,
        "[plugins.video]\nenabled = false\n"
        "[plugins.image.options]\nmax_pixels = 1000\ngps = true\n"
        "[plugins.document.options]\ndocx_max_ratio = 50\n",
    )
    inspector = load_plugins(config, installed=False)
    assert "video" not in inspector.asset_types() and "video" not in inspector.plugins
    image = inspector.plugins["image"]
    assert (image.plugin.max_pixels, image.plugin.gps) == (1000, True)
    # an int where a float is wanted is fine
    assert inspector.plugins["document"].plugin.docx_max_ratio == 50.0


def test_a_disabled_type_is_refused_naming_what_it_is(tmp_path):
    inspector = load_plugins(write(tmp_path, "[plugins.image]\nenabled = false\n"))
    with pytest.raises(UnsupportedContent, match=r"image assets are not enabled here.*PNG"):
        inspector.sniff(tiny_png(), "a.png")


def test_max_size_option_becomes_the_type_limit(tmp_path):
    inspector = load_plugins(write(tmp_path, "[plugins.audio.options]\nmax_size = 1024\n"))
    assert inspector.asset_types()["audio"].max_size == 1024
    assert inspector.asset_types()["image"].max_size is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plugins.imagez]\nenabled = true\n", r"unknown plugin 'imagez'.*known: audio"),
        (
            "[plugins.image.options]\nmax_pixel = 5\n",
            r"'image' has no option 'max_pixel'.*max_pixels",
        ),
        ("[plugins.image.options]\nmax_pixels = 'many'\n", r"max_pixels must be an integer"),
        ("[plugins.image.options]\ngps = 1\n", r"gps must be true or false"),
        ("[plugins.image.options]\nmax_pixels = 0\n", r"'image': max_pixels must be at least 1"),
        ("[plugins.video.options]\ntimeout = -1\n", r"'video': timeout must be positive"),
        ("[plugins.image]\nmax_pixels = 5\n", r"unknown key 'max_pixels'.*plugins\.image\.options"),
        ("[plugins.image]\nenabled = 'yes'\n", r"enabled must be true or false"),
        ("[plugins.image]\noptions = 3\n", r"options must be a table"),
        ("[audio]\nenabled = false\n", r"unknown top-level key 'audio'"),
        ("[plugins\n", r"plugins.toml"),
    ],
)
def test_configuration_mistakes_are_clear_errors_at_start(tmp_path, text, message):
    with pytest.raises(PluginConfigError, match=message):
        load_plugins(write(tmp_path, text))


def test_the_cli_reports_a_plugin_configuration_error(tmp_path, monkeypatch, capsys):
    from asset_service import cli

    monkeypatch.setenv("ASSET_PLUGINS_CONFIG", str(write(tmp_path, "[plugins.nope]\n")))
    monkeypatch.setenv("ASSET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSET_JWT_SECRET", "x" * 40)
    assert cli.main(["cleanup", "--once"]) == 2
    assert "unknown plugin 'nope'" in capsys.readouterr().err


# --- hook implementations checked at start --------------------------------------------------


class Misspelt:
    @hookimpl
    def snif(self, head):  # not a hook
        return None


class WrongArgument:
    @hookimpl
    def sniff(self, head, path):  # sniff has no argument "path"
        return None


class WrappedEvents:
    @hookimpl(wrapper=True)
    def on_event(self, event):
        return (yield)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (Misspelt(), r"'misspelt'.*snif.*the hooks: asset_types, extract_metadata"),
        (WrongArgument(), r"(?s)'misspelt'.*'path'.*can not be found"),
        (WrappedEvents(), r"on_event may not be a hook wrapper"),
    ],
)
def test_misspelt_or_malformed_hook_implementations_stop_the_start(plugin, message):
    with pytest.raises(PluginConfigError, match=message):
        load_plugins(extra={"misspelt": plugin})


def test_check_pending_runs_when_registering_at_run_time():
    inspector = load_plugins()
    with pytest.raises(PluginConfigError, match="snif"):
        inspector.register(Misspelt(), "late")
    assert "late" not in inspector.plugins and inspector.pm.get_plugin("late") is None


class Duplicate:
    @hookimpl
    def asset_types(self):
        return [AssetType("audio", "other-audio")]


class SameBucket:
    @hookimpl
    def asset_types(self):
        return [AssetType("sounds", "audio-assets")]


class BadBucket:
    @hookimpl
    def asset_types(self):
        return [AssetType("models", "Models_Bucket")]


class NotAType:
    @hookimpl
    def asset_types(self):
        return [{"name": "x"}]


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (Duplicate(), r"asset type 'audio' is declared by both 'audio' and 'extra'"),
        (SameBucket(), r"bucket 'audio-assets' of type 'sounds' is already used by 'audio'"),
        (BadBucket(), r"'Models_Bucket' .* is not a valid bucket name"),
        (NotAType(), r"must return AssetType values, not dict"),
    ],
)
def test_asset_type_mistakes_stop_the_start(plugin, message):
    with pytest.raises(PluginConfigError, match=message):
        load_plugins(extra={"extra": plugin})


def test_temp_bucket_is_reserved():
    class Temp:
        @hookimpl
        def asset_types(self):
            return [AssetType("temp", "temp-uploads")]

    with pytest.raises(PluginConfigError, match="temporary uploads"):
        load_plugins(extra={"temp": Temp()})


# --- entry points -----------------------------------------------------------------------------


def make_distribution(site: Path, name: str, entry_points: dict[str, str]) -> None:
    dist_info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[asset_service.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("module_plugin", "broken_plugin", "plain_plugin"):
        sys.modules.pop(module, None)


def test_an_installed_module_plugin_is_loaded_and_takes_no_options(site, tmp_path):
    (site / "module_plugin.py").write_text(
        "from asset_service.plugins import hookimpl\n"
        "seen = []\n"
        "@hookimpl\n"
        "def on_event(event):\n"
        "    seen.append(event.name)\n"
    )
    make_distribution(site, "asset-service-events", {"events": "module_plugin"})
    inspector = load_plugins()
    assert inspector.plugins["events"].origin == "asset-service-events 1.0"
    inspector.notify(Event("asset.created", "acme", {}))
    assert sys.modules["module_plugin"].seen == ["asset.created"]
    with pytest.raises(PluginConfigError, match="'events' takes no options"):
        load_plugins(write(tmp_path, "[plugins.events.options]\nx = 1\n"))


def test_an_installed_plugin_that_fails_to_import_is_named(site):
    (site / "broken_plugin.py").write_text("raise ImportError('needs libfoo')\n")
    make_distribution(site, "asset-service-broken", {"broken": "broken_plugin"})
    with pytest.raises(PluginConfigError, match=r"'broken' \(asset-service-broken 1.0\).*libfoo"):
        load_plugins()


def test_an_installed_plugin_may_not_take_a_builtin_name(site):
    (site / "plain_plugin.py").write_text("")
    make_distribution(site, "asset-service-fake-audio", {"audio": "plain_plugin"})
    with pytest.raises(PluginConfigError, match=r"two plugins are named 'audio'"):
        load_plugins()


def test_installed_plugins_can_be_left_out(site):
    (site / "plain_plugin.py").write_text("")
    make_distribution(site, "asset-service-plain", {"plain": "plain_plugin"})
    assert "plain" in load_plugins().plugins
    assert "plain" not in load_plugins(installed=False).plugins


# --- the port's error policy --------------------------------------------------------------


class Exploding:
    @hookimpl
    def sniff(self, head):
        raise RuntimeError("sniffer bug")

    @hookimpl
    def extract_metadata(self, path):
        raise KeyError("metadata bug")


def test_a_failing_sniff_is_skipped_and_logged(tmp_path, caplog):
    inspector = load_plugins(extra={"exploding": Exploding()})
    with caplog.at_level(logging.ERROR):
        assert inspector.sniff(tiny_png(), "a.png").format == "png"
    assert "sniffer bug" in caplog.text


def test_a_failing_extract_metadata_is_a_422_without_paths(tmp_path):
    inspector = load_plugins(extra={"exploding": Exploding()})
    path = tmp_path / "a.png"
    path.write_bytes(tiny_png())
    detected = inspector.sniff(path.read_bytes(), "a.png")
    inspector.validate(path, detected)
    with pytest.raises(UnprocessableContent, match=r"PNG file could not be read.*metadata bug"):
        inspector.describe(path, detected)


def test_descriptions_merge_first_wins():
    class First:
        @hookimpl(tryfirst=True)
        def extract_metadata(self):
            return Description(duration=2.0, extracted={"a": 1, "b": 1})

    class Second:
        @hookimpl
        def extract_metadata(self):
            return Description(duration=3.0, extracted={"b": 2, "c": 2})

    inspector = load_plugins(installed=False, extra={"second": Second(), "first": First()})
    merged = inspector.describe(Path("/nonexistent"), Detected("audio", "audio/x-test", "test"))
    assert merged.duration == 2.0
    assert merged.extracted == {"a": 1, "b": 1, "c": 2}


def test_image_plugin_raises_pillows_limit_only_when_asked(monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)
    ImagePlugin()
    assert Image.MAX_IMAGE_PIXELS == 89_478_485
    ImagePlugin(max_pixels=200_000_000)
    assert Image.MAX_IMAGE_PIXELS == 200_000_000


def test_hook_names_are_the_hookspecs():
    from asset_service.plugins import hookspecs

    for name in PluginInspector.hook_names():
        assert isinstance(getattr(hookspecs, name), types.FunctionType)


# --- the port ---------------------------------------------------------------------------------


def test_the_engine_never_imports_the_plugins_or_pluggy():
    import ast

    engine = Path(__file__).resolve().parents[2] / "asset_service" / "engine"
    for source in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                assert "plugins" not in name and not name.startswith("pluggy"), (source, name)


def test_the_plugin_inspector_implements_the_engine_port():
    import inspect

    from asset_service.engine.inspection import ContentInspector

    for name, member in vars(ContentInspector).items():
        if name.startswith("_") or not callable(member):
            continue
        ours = getattr(PluginInspector, name)
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(member).parameters
        ), name


def test_the_inspector_judges_stored_svgs_for_inline_display(tmp_path):
    from tests.media import SVG_WITH_ONLOAD, SVG_WITH_SCRIPT, svg

    inspector = load_plugins(write(tmp_path, ""))
    assert inspector.safe_inline("image/svg+xml", svg()) is True
    assert inspector.safe_inline("image/svg+xml", SVG_WITH_SCRIPT) is False
    assert inspector.safe_inline("image/svg+xml", SVG_WITH_ONLOAD) is False
    assert inspector.safe_inline("image/svg+xml", b"not xml at all") is False
    assert inspector.safe_inline("text/html", b"<p>hello</p>") is False  # not judged here
