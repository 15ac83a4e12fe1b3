"""Fixtures of the API tests, on top of ``tests/conftest.py`` (a real Hypercorn over the app)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
import pytest

from asset_service.config import Settings
from asset_service.engine import AssetEngine
from asset_service.engine.catalog import AssetQuery
from tests.conftest import data_files
from tests.preview_waits import previews_idle

from .helpers import TEXT_BYTES, Part, file_part, multipart, multipart_type

UPLOAD = "/api/assets/upload"
CUSTOMERS = ("acme", "globex")


async def record_ids(engine: AssetEngine, customer: str = "acme") -> set[str]:
    """Every catalog record of a customer, deleted or not."""
    page = await engine.catalog.list(AssetQuery(customer_id=customer, deleted=None, limit=1000))
    return {asset.asset_id for asset in page.items}


class Leftovers:
    """What a request may not leave behind: a baseline of blobs, partial files and records,
    and a check that nothing was added to it."""

    def __init__(self, engine: AssetEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.files: list[str] = []
        self.records: dict[str, set[str]] = {}

    async def snapshot(self) -> None:
        await previews_idle(self.engine)  # previews of earlier uploads are written after them
        self.files = data_files(self.settings)
        self.records = {c: await record_ids(self.engine, c) for c in CUSTOMERS}

    async def assert_clean(self) -> None:
        await previews_idle(self.engine)
        files = data_files(self.settings)
        assert not [f for f in files if f.startswith(("temp-uploads/", ".partial/"))], files
        assert files == self.files, f"new files: {sorted(set(files) - set(self.files))}"
        for customer in CUSTOMERS:
            assert await record_ids(self.engine, customer) == self.records[customer]
        # no upload session is still open
        assert self.engine._uploads.in_flight() == set()


@pytest.fixture
async def leftovers(engine: AssetEngine, settings: Settings, base_url: str) -> Leftovers:
    """Snapshot taken once the server runs. pytest-trio sets fixtures up concurrently, so a
    test that also uses an asset-creating fixture calls ``await leftovers.snapshot()`` first."""
    tracker = Leftovers(engine, settings)
    await tracker.snapshot()
    return tracker


PostForm = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def post_form(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> PostForm:
    """``await post_form([parts...], headers=..., ...)``: a hand-built multipart upload."""

    async def post(
        parts: Iterable[Part],
        *,
        headers: dict[str, str] | None = None,
        close: bool = True,
        content_type: str | None = None,
        body: Any = None,
    ) -> httpx.Response:
        all_headers = dict(auth() if headers is None else headers)
        all_headers["Content-Type"] = content_type or multipart_type()
        content = multipart(parts, close=close) if body is None else body
        return await client.post(UPLOAD, headers=all_headers, content=content)

    return post


CreateAsset = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_asset(post_form: PostForm) -> CreateAsset:
    """``await create_asset(content=..., filename=..., headers=..., **fields)`` → asset JSON."""

    async def create(
        content: bytes = TEXT_BYTES,
        filename: str = "notes.txt",
        *,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        **form: str,
    ) -> dict[str, Any]:
        parts = [Part(name, value) for name, value in form.items()]
        parts.append(file_part(content, filename, content_type))
        response = await post_form(parts, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
