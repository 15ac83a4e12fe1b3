"""The web console in a real browser (Debian's Chromium through Playwright) against the real
server: sign-in, uploads through tus (with a resume across a reload), a refused file, search in
the URL, playback with range requests, an edit that loses a race, the trash, moves, roles,
and axe-core's accessibility rules. Every test also fails on any error in the page
(``conftest.Console``)."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.media import image_bytes, pdf_bytes, wav_bytes
from tests.server_process import text_bytes

# one worker runs them all under pytest-xdist (`make test` uses --dist loadgroup): one browser
# and one server per store instead of one per worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("console-browser")]

BOTH_STORES = pytest.mark.parametrize("store", ["file", "s3"], indirect=True)


def write(directory: Path, name: str, content: bytes) -> Path:
    path = directory / name
    path.write_bytes(content)
    return path


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def assert_accessible(console, where: str) -> None:
    violations = console.axe_violations()
    assert not violations, f"axe: serious or critical violations on {where}: {violations}"


# --- sign-in and uploads -------------------------------------------------------------------------


@BOTH_STORES
def test_sign_in_and_upload_three_types(console, tmp_path):
    page = console.page
    console.open()
    expect(page.get_by_test_id("token-input")).to_be_visible()
    assert_accessible(console, "the sign-in page")
    console.sign_in(roles=("editor",))
    files = [
        write(tmp_path, "tone.wav", wav_bytes(1.0)),
        write(tmp_path, "photo.png", image_bytes("PNG", 64, 48)),
        write(tmp_path, "report.pdf", pdf_bytes(1)),
    ]
    page.get_by_test_id("upload-input").set_input_files([str(f) for f in files])
    rows = page.get_by_test_id("upload-progress")
    expect(rows).to_have_count(3)
    for row in rows.all():
        expect(row).to_have_attribute("data-state", "done")
    expected = {"tone.wav": "audio", "photo.png": "image", "report.pdf": "document"}
    for name, asset_type in expected.items():
        card = console.card(name)
        expect(card).to_have_count(1)
        expect(card).to_have_attribute("data-type", asset_type)
        expect(card).to_contain_text(asset_type)
    # the rows stay, with their final state, until dismissed
    rows.first.get_by_role("button", name=re.compile("Dismiss")).click()
    expect(rows).to_have_count(2)
    assert_accessible(console, "the library")


def test_a_refused_file_shows_the_problem_detail(console, tmp_path):
    page = console.page
    console.sign_in(roles=("editor",))
    page.get_by_test_id("type-tab-audio").click()
    png = write(tmp_path, "not-audio.png", image_bytes("PNG", 8, 8))
    page.get_by_test_id("upload-input").set_input_files(str(png))
    row = page.get_by_test_id("upload-progress")
    expect(row).to_have_attribute("data-state", "failed")
    expect(row).to_contain_text("expected audio content, but the bytes are image")
    expect(page.get_by_test_id("asset-card")).to_have_count(0)


def test_resume_after_a_reload(console, tmp_path):
    """The upload goes on from the offset the service holds: after the reload the page offers
    the interrupted upload, the same file chosen again is not sent from the start."""
    page = console.page
    console.sign_in(roles=("editor",))
    content = text_bytes(6 * 1024 * 1024, seed=11)
    big = write(tmp_path, "big.txt", content)
    patches: list[int] = []
    held = []

    def hold_after_two(route):
        if route.request.method != "PATCH":
            route.continue_()
        elif len(patches) < 2:
            patches.append(int(route.request.headers["upload-offset"]))
            route.continue_()
        else:
            held.append(route)  # never answered: the page is reloaded mid-upload

    page.route("**/api/uploads/**", hold_after_two)
    page.get_by_test_id("upload-input").set_input_files(str(big))
    expect(page.get_by_test_id("upload-progress")).to_contain_text("%")
    deadline = time.monotonic() + 20
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # (lets Playwright dispatch the route handler)
    assert held, f"the third chunk was never sent: {patches}"
    page.unroute_all(behavior="ignoreErrors")
    page.reload()
    interrupted = page.get_by_test_id("upload-progress")
    expect(interrupted).to_have_attribute("data-state", "paused")
    expect(interrupted).to_contain_text("big.txt")
    # what the page sends once the file is chosen again (a request of the page before the
    # reload may still reach the network after it, on a loaded machine)
    requests: list[tuple[str, str]] = []
    page.on(
        "request",
        lambda r: (
            requests.append((r.method, r.headers.get("upload-offset", "")))
            if "/api/uploads/" in r.url
            else None
        ),
    )
    page.get_by_test_id("upload-input").set_input_files(str(big))
    row = page.get_by_test_id("upload-progress")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "done", timeout=30_000)
    assert ("POST", "") not in requests, f"the upload started over: {requests}"
    assert requests[0][0] == "HEAD", requests
    first_patch = next(int(offset) for method, offset in requests if method == "PATCH")
    assert first_patch >= 2 * 1024 * 1024, requests
    asset_id = row.get_attribute("data-asset-id")
    assert console.get(asset_id)["checksum"].endswith(hashlib.sha256(content).hexdigest())
    download = console.client.get(f"/api/assets/{asset_id}/download", headers=console.auth())
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(content).hexdigest()


# --- finding and playing -----------------------------------------------------------------------


def test_search_narrows_the_grid_and_the_url_reflects_it(console):
    console.upload(b"alpha notes\n", "alpha-notes.txt")
    console.upload(b"beta notes\n", "beta-notes.txt")
    console.upload(b"gamma notes\n", "gamma-notes.txt")
    page = console.page
    console.sign_in()
    cards = page.get_by_test_id("asset-card")
    expect(cards).to_have_count(3)
    page.get_by_test_id("search-input").fill("alph")
    page.get_by_test_id("search-input").press("Enter")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("alpha-notes.txt")
    assert query_of(page.url)["q"] == ["alph"]
    # shareable: the same URL in a new page shows the same result
    shared = page.url
    page.go_back()
    expect(cards).to_have_count(3)
    assert "q" not in query_of(page.url)
    page.go_forward()
    expect(cards).to_have_count(1)
    page.get_by_test_id("type-tab-document").click()
    assert query_of(page.url)["type"] == ["document"]
    page.goto(shared)
    expect(cards).to_have_count(1)
    expect(page.get_by_test_id("search-input")).to_have_value("alph")


@BOTH_STORES
def test_an_audio_asset_plays_and_seeks_with_range_requests(console):
    asset = console.upload(wav_bytes(20.0), "long-tone.wav")
    page = console.page
    console.sign_in(roles=("viewer",))
    console.card("long-tone.wav").click()
    detail = page.get_by_test_id("asset-detail")
    expect(detail).to_be_visible()
    player = page.get_by_test_id("media-player")
    expect(player).to_have_attribute("preload", "metadata")
    player.evaluate(
        "el => new Promise((ok, fail) => { if (el.readyState >= 1) ok();"
        " el.addEventListener('loadedmetadata', ok); el.addEventListener('error', fail); })"
    )
    assert abs(player.evaluate("el => el.duration") - 20.0) < 0.5
    player.evaluate(
        "el => new Promise(ok => { el.addEventListener('seeked', ok, {once: true});"
        " el.currentTime = 15; })"
    )
    assert player.evaluate("el => el.currentTime") == pytest.approx(15.0, abs=0.5)
    ranged = [
        status
        for method, url, status in console.responses
        if asset["asset_id"] in url and "/download" in url and method == "GET"
    ]
    assert 206 in ranged, ranged
    assert_accessible(console, "the detail of an audio asset")


# --- changing ---------------------------------------------------------------------------------


def test_an_edit_that_lost_a_race_says_so_then_succeeds_after_a_reload(console):
    asset = console.upload(b"draft\n", "draft.txt")
    page = console.page
    console.sign_in(roles=("editor",))
    console.card("draft.txt").click()
    page.get_by_test_id("edit-title").fill("My title")
    # meanwhile, another client changes the asset
    other = console.client.put(
        f"/api/assets/{asset['asset_id']}", headers=console.auth(), json={"title": "Theirs"}
    )
    assert other.status_code == 200, other.text
    page.get_by_test_id("save").click()
    message = page.get_by_test_id("asset-detail").get_by_test_id("error-message")
    expect(message).to_contain_text("changed meanwhile")
    message.get_by_role("button", name="Reload").click()
    expect(page.get_by_test_id("edit-title")).to_have_value("Theirs")
    page.get_by_test_id("edit-title").fill("My title")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("asset-detail")).to_contain_text("Saved.")
    assert_accessible(console, "an editor's detail view")
    assert console.get(asset["asset_id"])["metadata"]["title"] == "My title"
    expect(console.card("My title")).to_have_count(1)


def test_delete_then_restore_from_the_trash(console):
    asset = console.upload(b"keep me\n", "keep.txt")
    page = console.page
    console.sign_in(roles=("admin",))
    console.card("keep.txt").click()
    page.get_by_test_id("delete").click()
    expect(page.get_by_test_id("asset-detail")).to_be_hidden()
    expect(console.card("keep.txt")).to_have_count(0)
    page.get_by_test_id("trash-tab").click()
    item = page.get_by_test_id("trash-item").filter(has_text="keep.txt")
    expect(item).to_have_count(1)
    assert_accessible(console, "the trash")
    item.get_by_test_id("restore").click()
    expect(item).to_have_count(0)
    assert console.get(asset["asset_id"])["deleted_at"] is None
    page.go_back()
    expect(console.card("keep.txt")).to_have_count(1)


def test_move_two_assets_to_a_new_folder(console):
    first = console.upload(b"one\n", "one.txt")
    second = console.upload(b"two\n", "two.txt")
    third = console.upload(b"three\n", "three.txt")
    page = console.page
    console.sign_in(roles=("editor",))
    page.get_by_role("checkbox", name="Select one.txt").check()
    page.get_by_role("checkbox", name="Select two.txt").check()
    page.get_by_test_id("move-to").click()
    dialog = page.get_by_role("dialog", name="Move 2 assets")
    dialog.get_by_label("To folder").fill("/projects/launch")
    dialog.get_by_role("button", name="OK").click()
    tree = page.get_by_test_id("folder-tree")
    expect(tree).to_contain_text("launch")
    for asset in (first, second):
        assert console.get(asset["asset_id"])["metadata"]["folder"] == "/projects/launch"
    assert console.get(third["asset_id"])["metadata"]["folder"] == "/"
    tree.get_by_role("button", name=re.compile("^launch")).click()
    expect(page.get_by_test_id("asset-card")).to_have_count(2)
    assert query_of(page.url)["folder"] == ["/projects/launch"]


def test_a_viewer_sees_no_edit_control(console):
    console.upload(b"read only\n", "readme.txt")
    page = console.page
    console.sign_in(roles=("viewer",))
    for hook in ("upload-input", "move-to", "trash-tab"):
        expect(page.get_by_test_id(hook)).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    console.card("readme.txt").press("Enter")
    detail = page.get_by_test_id("asset-detail")
    expect(detail.get_by_test_id("versions-list")).to_contain_text("v1")
    for hook in ("edit-title", "save", "delete"):
        expect(page.get_by_test_id(hook)).to_have_count(0)
    expect(detail.get_by_role("button", name=re.compile("^Restore"))).to_have_count(0)
    assert_accessible(console, "a viewer's detail view")
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    page.get_by_role("button", name="Audio library stats").click()
    expect(page.locator("#stats .kpi").first).to_contain_text("0")
    assert query_of(page.url)["view"] == ["stats"]
    assert_accessible(console, "the audio library's statistics")


def test_live_events_bring_changes_made_elsewhere(console):
    page = console.page
    console.sign_in(roles=("viewer",))
    expect(page.get_by_test_id("asset-card")).to_have_count(0)
    asset = console.upload(b"from another client\n", "elsewhere.txt")
    expect(console.card("elsewhere.txt")).to_have_count(1)  # no reload: over /api/events
    changed = console.client.put(
        f"/api/assets/{asset['asset_id']}", headers=console.auth(), json={"title": "Renamed"}
    )
    assert changed.status_code == 200, changed.text
    expect(console.card("Renamed")).to_have_count(1)
    gone = console.client.delete(f"/api/assets/{asset['asset_id']}", headers=console.auth())
    assert gone.status_code == 204, gone.text
    expect(page.get_by_test_id("asset-card")).to_have_count(0)
