"""One test per hook, each through the running service: a test plugin is registered for that
test and unregistered in ``finally`` (datasette's pattern), and the effect is checked over HTTP.
``test_every_hook_has_its_own_test`` fails when a hook of ``hookspecs`` has no test here."""

from __future__ import annotations

import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import trio

from asset_service.config import Settings
from asset_service.engine import AssetEngine, open_engine
from asset_service.plugins import (
    AssetType,
    Description,
    Detected,
    Dimensions,
    Event,
    Previewer,
    PreviewRequest,
    RenderedPreview,
    UnprocessableContent,
    hookimpl,
)
from asset_service.plugins.inspector import PluginInspector
from asset_service.plugins.loading import load_plugins
from asset_service.wiring import blob_store_from_url, catalog_from_url
from tests.api.helpers import assert_problem, file_part, multipart, multipart_type
from tests.conftest import data_files, start_server
from tests.media import tiny_png

from .conftest import created


def inspector_of(engine: AssetEngine) -> PluginInspector:
    assert isinstance(engine.inspector, PluginInspector)
    return engine.inspector


@contextmanager
def registered(engine: AssetEngine, plugin: object, name: str) -> Iterator[None]:
    inspector = inspector_of(engine)
    inspector.register(plugin, name)
    try:
        yield
    finally:
        inspector.unregister(name)


async def post_file(client, auth, content: bytes, filename: str, **form: str) -> httpx.Response:
    from tests.api.helpers import Part

    parts = [Part(k, v) for k, v in form.items()] + [file_part(content, filename)]
    headers = {**auth(), "Content-Type": multipart_type()}
    return await client.post("/api/assets/upload", headers=headers, content=multipart(parts))


# --- asset_types -----------------------------------------------------------------------------

NOTE = Detected("score", "application/x-score", "score")


class ScorePlugin:
    """A new asset type with its own bucket and size limit."""

    @hookimpl
    def asset_types(self):
        return [AssetType("score", "score-assets", ("application/x-score",), ("score",), 64)]

    @hookimpl
    def sniff(self, head):
        return NOTE if head.startswith(b"SCORE:") else None


@asynccontextmanager
async def engine_with(settings: Settings, **extra: object) -> AsyncIterator[AssetEngine]:
    """An engine on ``settings`` whose plugins are the configured ones plus ``extra``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_engine(
        blob_store_from_url(settings.blob_store_url),
        catalog_from_url(settings.catalog_url),
        load_plugins(settings.plugins_config, extra=extra),
        settings.engine_config(),
    ) as engine:
        yield engine


async def test_hook_asset_types(settings, auth):
    async with engine_with(settings, score=ScorePlugin()) as engine, trio.open_nursery() as nursery:
        assert engine.asset_types()["score"].bucket == "score-assets"
        base_url = await start_server(nursery, engine, settings)
        async with httpx.AsyncClient(base_url=base_url) as client:
            asset = created(await post_file(client, auth, b"SCORE: 3-1\n", "match.txt"))
            assert (asset["type"], asset["mime_type"]) == ("score", "application/x-score")
            assert asset["storage"]["bucket"] == "score-assets"
            # The type's size limit, and the type field, come from the declaration.
            too_big = await post_file(client, auth, b"SCORE: " + b"9" * 100, "big.txt")
            assert_problem(too_big, 413)
            typed = await post_file(client, auth, tiny_png(), "x.png", type="score")
            assert_problem(typed, 415)
        assert any(f.startswith("score-assets/") for f in data_files(settings))
        nursery.cancel_scope.cancel()


# --- sniff -----------------------------------------------------------------------------------

SHOUT = Detected("document", "text/x-shout", "shout")


class ShoutPlugin:
    """Claims upper-case text, before the built-in TXT recogniser (which is ``trylast``)."""

    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    @hookimpl
    def sniff(self, head, filename):
        self.calls.append(filename)
        return SHOUT if head.isupper() else None


async def test_hook_sniff(engine, client, auth):
    plugin = ShoutPlugin()
    with registered(engine, plugin, "shout"):
        asset = created(await post_file(client, auth, b"HELLO THERE\n", "loud.txt"))
        assert (asset["type"], asset["mime_type"]) == ("document", "text/x-shout")
        assert asset["extracted"]["format"] == "shout"
        # firstresult: when it answers None the built-ins still get their turn.
        quiet = created(await post_file(client, auth, b"hello there\n", "quiet.txt"))
        assert quiet["mime_type"] == "text/plain"
        assert plugin.calls == ["loud.txt", "quiet.txt"]
    after = created(await post_file(client, auth, b"HELLO AGAIN\n", "loud.txt"))
    assert after["mime_type"] == "text/plain"


# --- validate --------------------------------------------------------------------------------


class ScannerPlugin:
    """Checks every file, as a virus scanner would; crashes on a marker (a plugin bug)."""

    @hookimpl
    def validate(self, path: Path, detected):
        data = path.read_bytes()
        if b"EICAR" in data:
            raise UnprocessableContent("the file carries the EICAR test signature")
        if b"CRASH" in data:
            raise RuntimeError(f"scanner bug while reading {path}")


async def test_hook_validate(engine, client, auth, settings):
    before = data_files(settings)
    with registered(engine, ScannerPlugin(), "scanner"):
        refused = await post_file(client, auth, b"text with EICAR inside\n", "a.txt")
        assert "EICAR" in assert_problem(refused, 422)["detail"]
        crashed = await post_file(client, auth, b"text that makes it CRASH\n", "b.txt")
        detail = assert_problem(crashed, 422)["detail"]
        assert "scanner bug" in detail and str(settings.data_dir) not in detail
        assert data_files(settings) == before
        created(await post_file(client, auth, tiny_png(), "clean.png"))


# --- extract_metadata ------------------------------------------------------------------------


class ChecksumPlugin:
    """Adds a CRC-32 to every file's ``extracted``, and claims dimensions for text."""

    @hookimpl
    def extract_metadata(self, path: Path, detected: Detected):
        found = Description(extracted={"crc32": zlib.crc32(path.read_bytes())})
        if detected.format == "txt":
            found.dimensions = Dimensions(80, 24)
        return found


async def test_hook_extract_metadata(engine, client, auth):
    with registered(engine, ChecksumPlugin(), "checksum"):
        text = created(await post_file(client, auth, b"hello\n", "a.txt"))
        assert text["extracted"]["crc32"] == zlib.crc32(b"hello\n")
        assert text["dimensions"] == {"width": 80, "height": 24}
        # Merged with the built-in's description: both contribute.
        assert text["extracted"]["lines"] == 1
        png = tiny_png()
        image = created(await post_file(client, auth, png, "a.png"))
        assert image["extracted"]["crc32"] == zlib.crc32(png)
        assert image["dimensions"] == {"width": 4, "height": 3}
    plain = created(await post_file(client, auth, b"hello\n", "a.txt"))
    assert "crc32" not in plain["extracted"]


# --- on_event --------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def on_event(self, event: Event) -> None:
        self.events.append(event)


class Broken:
    @hookimpl
    def on_event(self, event: Event) -> None:
        raise RuntimeError("listener bug")


async def test_hook_on_event(engine, client, auth, caplog):
    recorder = Recorder()
    with registered(engine, recorder, "recorder"), registered(engine, Broken(), "broken"):
        asset = created(await post_file(client, auth, b"hello\n", "a.txt"))
        deleted = await client.delete(f"/api/assets/{asset['asset_id']}", headers=auth())
        assert deleted.status_code == 204
    names = [
        (e.name, e.data.get("asset_id")) for e in recorder.events if e.name != "upload.progress"
    ]
    assert names == [("asset.created", asset["asset_id"]), ("asset.deleted", asset["asset_id"])]
    assert all(e.customer_id == "acme" for e in recorder.events)
    assert any(e.name == "upload.progress" for e in recorder.events)
    # The broken listener was logged and did not keep events from the recorder.
    assert "listener bug" in caplog.text


class LineCounter:
    """A preview of its own for plain text: the number of lines, as JSON."""

    @staticmethod
    def render(request: PreviewRequest) -> list[RenderedPreview]:
        lines = len(request.source.read_bytes().splitlines())
        path = request.out_dir / "count.json"
        path.write_text(f'{{"lines": {lines}}}')
        return [RenderedPreview("count", path)]

    @hookimpl
    def previewers(self, asset_type, mime_type):
        if mime_type == "text/plain":
            return [Previewer("lines", "application/json", self.render)]
        return None


async def test_hook_previewers(engine, client, auth):
    with registered(engine, LineCounter(), "line-counter"):
        async with engine.hub.subscribe() as events:
            asset = created(await post_file(client, auth, b"one\ntwo\nthree\n", "a.txt"))
            assert asset["previews"][0]["kind"] == "lines"
            with trio.fail_after(30):
                async for event in events:
                    if event.name == "asset.preview_ready":
                        assert event.data["kind"] == "lines"
                        break
        url = f"/api/assets/{asset['asset_id']}/previews/lines"
        response = await client.get(url, headers=auth())
        assert response.status_code == 200, response.text
        assert response.json() == {"lines": 3}


# --- every hook has its test -----------------------------------------------------------------


def test_every_hook_has_its_own_test():
    module = sys.modules[__name__]
    missing = [
        hook for hook in PluginInspector.hook_names() if not hasattr(module, f"test_hook_{hook}")
    ]
    assert not missing, f"hooks without a test_hook_<name> in {__name__}: {missing}"
    assert len(PluginInspector.hook_names()) >= 5
