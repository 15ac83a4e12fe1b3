"""A tiny content inspector for engine tests: the engine takes any object with the
``ContentInspector`` shape, so these tests need no plugin machinery."""

from __future__ import annotations

from pathlib import Path

from asset_service.engine.errors import UnprocessableContent
from asset_service.engine.events import Event
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import SEED_TYPES, AssetType, Dimensions

TEXT = Detected("document", "text/plain", "txt")
IMAGE = Detected("image", "image/x-test", "img")


class TinyInspector:
    """``TXT:`` content is a document, ``IMG:`` an image; ``BROKEN`` anywhere fails validation,
    ``BUG`` makes ``describe`` crash like a buggy plugin would."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def asset_types(self) -> dict[str, AssetType]:
        return dict(SEED_TYPES)

    def sniff(self, head: bytes, filename: str) -> Detected | None:
        if head.startswith(b"TXT:"):
            return TEXT
        if head.startswith(b"IMG:"):
            return IMAGE
        return None

    def validate(self, path: Path, detected: Detected) -> None:
        if b"BROKEN" in path.read_bytes():
            raise UnprocessableContent("the test file is marked broken")

    def describe(self, path: Path, detected: Detected) -> Description:
        data = path.read_bytes()
        if b"BUG" in data:
            raise RuntimeError("a plugin bug")
        if detected is IMAGE:
            return Description(dimensions=Dimensions(4, 3), extracted={"lines": 0})
        return Description(extracted={"lines": data.count(b"\n")})

    def safe_inline(self, mime_type: str, content: bytes) -> bool:
        return False

    def notify(self, event: Event) -> None:
        self.events.append(event)
