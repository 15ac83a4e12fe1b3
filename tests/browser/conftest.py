"""Fixtures of the console tests: Debian's Chromium driven by Playwright (one browser for the
module), the real server as a subprocess (``tests/server_process.py``) on 127.0.0.1 per blob
store, and a fresh browser context per test that fails the test on any uncaught page error,
unhandled rejection, console error or CSP violation, and leaves a screenshot when a test fails.

Chromium comes from Debian (``make test`` installs it when root); Playwright's own browser
downloads are not used. Without it, and not root, these tests skip saying so.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import moto_s3_url, new_bucket_prefix
from tests.server_process import ServerProcess, mint_token, server_env

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(tempfile.gettempdir()) / "asset-service-console-failures"
#: Chromium reports every non-2xx fetch as a console error; the tests provoke some on purpose
#: (a refused upload, a conflicting edit). Those are the API's answers, not page errors.
NETWORK_NOISE = ("Failed to load resource",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("no chromium on PATH: `make test` installs Debian's package when run as root")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # the machine is shared and busy: waits are bounded, but not tight
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox needs user namespaces, absent in CI containers
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = server_env(tmp_path_factory.mktemp("console-file") / "data")
    with ServerProcess(env) as server:
        yield server


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> Iterator[ServerProcess]:
    store = moto_s3_url(moto_url, new_bucket_prefix())
    env = server_env(tmp_path_factory.mktemp("console-s3") / "data", blob_store=store)
    with ServerProcess(env) as server:
        yield server


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """The blob store of the server a test drives: ``file`` unless parametrized."""
    name = getattr(request, "param", "file")
    stores = {s.strip() for s in request.config.getoption("api_blob_stores").split(",")}
    if name != "file" and name not in stores:
        pytest.skip(f"{name} is not in --api-blob-stores")
    return name


@pytest.fixture
def server(store: str, request: pytest.FixtureRequest) -> ServerProcess:
    return request.getfixturevalue(f"{store}_server")


@dataclass
class Console:
    """One test's browser page on the server, its API client and what went wrong in the page."""

    page: Any
    base_url: str
    customer: str
    client: httpx.Client
    errors: list[str] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)

    def token(self, roles: tuple[str, ...] = ("admin",), user: str = "ada") -> str:
        return mint_token(user=user, customer=self.customer, roles=roles)

    def auth(self, roles: tuple[str, ...] = ("admin",), user: str = "ada") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(roles, user)}"}

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, roles: tuple[str, ...] = ("admin",), user: str = "ada") -> None:
        self.open()
        self.page.get_by_test_id("token-input").fill(self.token(roles, user))
        self.page.get_by_test_id("sign-in").click()
        self.page.get_by_test_id("type-tab-all").wait_for()

    def upload(self, content: bytes, filename: str, **fields: str) -> dict[str, Any]:
        """An asset made through the API (multipart), as another client would."""
        response = self.client.post(
            "/api/assets/upload",
            headers=self.auth(),
            files={"file": (filename, content)},
            data=fields,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, asset_id: str, **params: str) -> dict[str, Any]:
        response = self.client.get(f"/api/assets/{asset_id}", headers=self.auth(), params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def card(self, name: str) -> Any:
        return self.page.get_by_test_id("asset-card").filter(has_text=name)

    def axe_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now. axe is
        evaluated through the DevTools protocol, so the page's CSP stays as it is."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
        )
        return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.fixture
def console(
    browser: Any, server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        # a customer of its own: every test starts from an empty library
        console = Console(page, server.base_url, f"c{uuid.uuid4().hex[:10]}", client)
        page.on("pageerror", lambda error: console.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                console.errors.append(f"console {message.type}: {message.text}")
                if message.type == "error" and not message.text.startswith(NETWORK_NOISE)
                else None
            ),
        )
        page.on(
            "response",
            lambda response: console.responses.append(
                (response.request.method, response.url, response.status)
            ),
        )
        try:
            yield console
        finally:
            failed = getattr(request.node, "report_call", None)
            if failed is not None and failed.failed:
                # (not under tmp_path: pytest prunes old temp dirs of concurrent runs)
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / f"{request.node.name}-{int(time.time())}.png"
                try:
                    page.screenshot(path=str(shot), full_page=True)
                    print(f"\nscreenshot of the failed console test: {shot}")
                except Exception as error:  # the page may be gone: say so, keep the failure
                    print(f"\nno screenshot of the failed console test: {error}")
            context.close()
    assert not console.errors, "errors in the page:\n" + "\n".join(console.errors)
