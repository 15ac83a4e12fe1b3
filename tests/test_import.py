"""``asset-service import``: a tree of generated WAV files (plus a text file and random bytes
that must be rejected) imported twice through ``cli.main``, then checked in the catalog and the
blob store; the JSON summary, the exit codes, ``--keep-tree``, links, and the progress bar."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import wave
from pathlib import Path

import pytest
import trio

from asset_service import cli, importer
from asset_service.config import load_settings
from asset_service.engine import AssetQuery, NewAssetFields, Principal, Role, UploadSpec
from asset_service.engine.model import Visibility
from asset_service.importer import BarProgress, FileResult, LineProgress, Status, progress_for
from asset_service.wiring import running_engine

SECRET = "import-test-secret-long-enough-for-hs256-0123456789abcdef"
CUSTOMER = "acme"
ADMIN = Principal("checker", CUSTOMER, frozenset({Role.ADMIN}))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("ASSET_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ASSET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    return data_dir


def wav_bytes(seconds: float, rate: int = 8000, seed: int = 0) -> bytes:
    """A real, valid WAV (16-bit mono PCM) whose samples depend on ``seed``: whatever checks
    the content inspection makes, this is audio."""
    rng = random.Random(seed)
    frames = b"".join(
        rng.randrange(-8000, 8000).to_bytes(2, "little", signed=True)
        for _ in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def noise_bytes(size: int = 6000) -> bytes:
    """Random bytes of no type: a NUL first (not text) and no 0xFF anywhere (so nothing can
    take them for an MPEG or AAC frame sync)."""
    rng = random.Random(42)
    return b"\x00" + bytes(rng.randrange(0, 255) for _ in range(size))


AUDIO = {
    "a.wav": wav_bytes(0.2, seed=1),
    "b.wav": wav_bytes(0.3, seed=2),
    "c.wav": wav_bytes(0.25, rate=16000, seed=3),
    "sub/d.wav": wav_bytes(0.2, seed=4),
    "sub/deeper/e.wav": wav_bytes(0.1, rate=22050, seed=5),
}
REJECTED = {
    "notes.txt": b"".join(b"line %04d of some old notes\n" % n for n in range(50)),
    "sub/noise.bin": noise_bytes(),
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """5 WAV files (two in sub-directories), a text file and random bytes; plus what the walk
    must leave alone: hidden files and directories, a link out of the tree."""
    root = write_tree(tmp_path / "old-library", {**AUDIO, **REJECTED})
    write_tree(root, {".hidden.wav": wav_bytes(0.1, seed=6), ".git/x.wav": wav_bytes(0.1, seed=7)})
    outside = write_tree(tmp_path / "elsewhere", {"secret.wav": wav_bytes(0.1, seed=8)})
    (root / "sub" / "link-out.wav").symlink_to(outside / "secret.wav")
    return root


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_import(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["import", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str) -> tuple[int, dict]:
    code, out, _ = run_import(capsys, *args, "--json")
    return code, json.loads(out)


def base_args(path: Path, *extra: str) -> list[str]:
    return [str(path), "--type", "audio", "--customer", CUSTOMER, "--user", "migrator", *extra]


def stored_assets(*, include_content: bool = True) -> list[dict]:
    """Every live audio asset of the customer, with its content read back from the store."""

    async def read() -> list[dict]:
        async with running_engine(load_settings(), scheduled_cleanup=False) as engine:
            page = await engine.list(ADMIN, AssetQuery(CUSTOMER, type="audio", limit=500))
            found = []
            for asset in page.items:
                content = b""
                if include_content:
                    version = asset.version(asset.current_version)
                    async for chunk in engine.read(asset, version):
                        content += chunk
                found.append(
                    {
                        "asset_id": asset.asset_id,
                        "name": asset.name,
                        "folder": asset.metadata.folder,
                        "checksum": asset.checksum,
                        "user_id": asset.user_id,
                        "visibility": asset.visibility,
                        "content": content,
                    }
                )
            return found

    return trio.run(read)


# --- the migration, twice ------------------------------------------------------------------


def test_importing_twice_imports_once(capsys, library: Path):
    code, first = run_json(capsys, *base_args(library))
    assert code == 1  # two files rejected
    assert (first["imported"], first["skipped"], first["rejected"]) == (5, 0, 2)
    assert first["type"] == "audio" and first["folder"] == "/" and first["customer"] == CUSTOMER
    assert first["imported_bytes"] == sum(len(c) for c in AUDIO.values())

    by_path = {f["path"]: f for f in first["files"]}
    # Sorted walk; hidden entries and the link out of the tree are not files of the import.
    assert sorted(by_path) == sorted([*AUDIO, *REJECTED])
    assert [f["path"] for f in first["files"]] == [
        "a.wav",
        "b.wav",
        "c.wav",
        "notes.txt",
        "sub/d.wav",
        "sub/deeper/e.wav",
        "sub/noise.bin",
    ]
    for relative, content in AUDIO.items():
        entry = by_path[relative]
        assert entry["status"] == "imported"
        assert entry["checksum"] == sha256(content)
        assert entry["size"] == len(content)
        assert entry["folder"] == "/"
        assert entry["asset_id"]

    rejected = {r["path"]: r["reason"] for r in first["rejected_files"]}
    assert set(rejected) == set(REJECTED)
    assert "audio" in rejected["notes.txt"]  # "expected audio content, but … text/plain"
    assert rejected["sub/noise.bin"]
    for relative in REJECTED:
        assert by_path[relative]["status"] == "rejected"
        assert by_path[relative]["error"] in ("UnsupportedContent", "UnprocessableContent")
        assert by_path[relative]["asset_id"] is None
    assert first["ignored"] == [
        {"path": "sub/link-out.wav", "reason": "a symbolic link out of PATH (not followed)"}
    ]

    stored = stored_assets()
    assert len(stored) == 5
    assert {(s["name"], s["folder"], s["checksum"]) for s in stored} == {
        (relative.rsplit("/", 1)[-1], "/", sha256(content)) for relative, content in AUDIO.items()
    }
    for asset in stored:
        assert asset["content"] == AUDIO[next(p for p in AUDIO if p.endswith(asset["name"]))]
        assert asset["user_id"] == "migrator"
        assert asset["visibility"] is Visibility.CUSTOMER
    assert {s["asset_id"] for s in stored} == {by_path[p]["asset_id"] for p in AUDIO}

    code, second = run_json(capsys, *base_args(library))
    assert code == 1  # the two bad files are still there, and still rejected
    assert (second["imported"], second["skipped"], second["rejected"]) == (0, 5, 2)
    for entry in second["files"]:
        if entry["path"] in AUDIO:
            assert entry["status"] == "skipped"
            assert entry["asset_id"] == by_path[entry["path"]]["asset_id"]
            assert entry["checksum"] == sha256(AUDIO[entry["path"]])
            assert entry["reason"] == f"already in / as asset {entry['asset_id']}"
    assert {r["path"]: r["reason"] for r in second["rejected_files"]} == rejected
    assert len(stored_assets(include_content=False)) == 5  # nothing new


def test_human_output_lines_and_summary(capsys, library: Path):
    code, out, err = run_import(capsys, *base_args(library))
    assert code == 1
    # stderr is not a terminal here: one plain line per file, no carriage returns.
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("importing 7 files")
    assert len(lines) == 8
    assert lines[1].startswith("[1/7] imported a.wav into / as asset ")
    assert lines[4].startswith("[4/7] rejected notes.txt: ") and "audio" in lines[4]
    assert lines[7].startswith("[7/7] rejected sub/noise.bin: ")
    # The summary on stdout: counts, then every rejected file with its reason.
    summary = out.strip().splitlines()
    assert summary[0].startswith("imported 5, skipped 0, rejected 2 of 7 files")
    assert summary[1] == "rejected:"
    assert summary[2].startswith("  notes.txt: ") and "audio" in summary[2]
    assert summary[3].startswith("  sub/noise.bin: ")
    assert summary[4:] == ["not looked at:", f"  sub/link-out.wav: {_LINK_OUT}"]

    code, out, err = run_import(capsys, *base_args(library))
    assert out.startswith("imported 0, skipped 5, rejected 2 of 7 files")
    assert "[1/7] skipped a.wav: already in / as asset " in err


_LINK_OUT = "a symbolic link out of PATH (not followed)"


def test_nothing_rejected_exits_0(capsys, tmp_path: Path):
    root = write_tree(tmp_path / "good", AUDIO)
    code, report = run_json(capsys, *base_args(root, "--folder", "/podcasts/2026/"))
    assert code == 0
    assert (report["imported"], report["skipped"], report["rejected"]) == (5, 0, 0)
    assert report["folder"] == "/podcasts/2026"  # normalised
    assert report["rejected_files"] == []
    assert {s["folder"] for s in stored_assets()} == {"/podcasts/2026"}
    code, report = run_json(capsys, *base_args(root, "--folder", "/podcasts/2026"))
    assert code == 0
    assert (report["imported"], report["skipped"]) == (0, 5)


def test_the_same_bytes_in_another_folder_are_imported(capsys, tmp_path: Path):
    root = write_tree(tmp_path / "good", {"a.wav": AUDIO["a.wav"], "b.wav": AUDIO["b.wav"]})
    assert run_json(capsys, *base_args(root, "--folder", "/one"))[1]["imported"] == 2
    code, report = run_json(capsys, *base_args(root, "--folder", "/two"))
    assert code == 0 and report["imported"] == 2
    assert sorted(s["folder"] for s in stored_assets()) == ["/one", "/one", "/two", "/two"]


def test_a_file_twice_in_the_tree_is_imported_once(capsys, tmp_path: Path):
    root = write_tree(
        tmp_path / "dup", {"a.wav": AUDIO["a.wav"], "copies/a-again.wav": AUDIO["a.wav"]}
    )
    code, report = run_json(capsys, *base_args(root))
    assert code == 0
    first, second = report["files"]
    assert (first["status"], second["status"]) == ("imported", "skipped")
    assert second["asset_id"] == first["asset_id"]
    assert len(stored_assets(include_content=False)) == 1


def test_keep_tree_mirrors_sub_directories(capsys, library: Path):
    code, report = run_json(capsys, *base_args(library, "--folder", "/old", "--keep-tree"))
    assert code == 1 and report["imported"] == 5
    folders = {s["name"]: s["folder"] for s in stored_assets(include_content=False)}
    assert folders == {
        "a.wav": "/old",
        "b.wav": "/old",
        "c.wav": "/old",
        "d.wav": "/old/sub",
        "e.wav": "/old/sub/deeper",
    }

    async def listed() -> list[str]:
        async with running_engine(load_settings(), scheduled_cleanup=False) as engine:
            return [f.path for f in await engine.folders(ADMIN, "audio")]

    assert {"/old", "/old/sub", "/old/sub/deeper"} <= set(trio.run(listed))
    code, again = run_json(capsys, *base_args(library, "--folder", "/old", "--keep-tree"))
    assert (again["imported"], again["skipped"]) == (0, 5)


def test_a_single_file(capsys, tmp_path: Path):
    path = tmp_path / "one.wav"
    path.write_bytes(AUDIO["b.wav"])
    code, report = run_json(capsys, *base_args(path))
    assert code == 0
    assert [(f["path"], f["status"]) for f in report["files"]] == [("one.wav", "imported")]
    assert run_json(capsys, *base_args(path))[1]["skipped"] == 1


def test_links_inside_the_tree_are_followed_to_files_only(capsys, tmp_path: Path):
    root = write_tree(tmp_path / "links", {"real/a.wav": AUDIO["a.wav"]})
    (root / "alias.wav").symlink_to(root / "real" / "a.wav")
    (root / "dir-link").symlink_to(root / "real")
    (root / "dangling.wav").symlink_to(root / "missing.wav")
    (root / "up.wav").symlink_to("../outside.wav")
    (tmp_path / "outside.wav").write_bytes(AUDIO["c.wav"])
    code, report = run_json(capsys, *base_args(root))
    assert code == 0
    assert [(f["path"], f["status"]) for f in report["files"]] == [
        ("alias.wav", "imported"),  # named after the link
        ("real/a.wav", "skipped"),
    ]
    ignored = {i["path"]: i["reason"] for i in report["ignored"]}
    assert ignored["dir-link"] == "a symbolic link to a directory (not followed)"
    assert ignored["up.wav"] == _LINK_OUT
    assert "dangling.wav" in ignored
    assert [s["checksum"] for s in stored_assets()] == [sha256(AUDIO["a.wav"])]


def test_a_duplicate_private_to_another_user_is_still_skipped(capsys, tmp_path: Path):
    """The import acts as an admin of the customer: it sees other users' private assets, so
    it does not import the same bytes next to them."""
    content = AUDIO["a.wav"]

    async def upload_private() -> str:
        owner = Principal("someone", CUSTOMER, frozenset({Role.EDITOR}))
        async with running_engine(load_settings(), scheduled_cleanup=False) as engine:
            handle = await engine.begin_upload(
                UploadSpec(principal=owner, filename="mine.wav", max_bytes=10**7)
            )
            await handle.write(content)
            asset = await handle.commit(NewAssetFields(visibility=Visibility.PRIVATE))
            return asset.asset_id

    private_id = trio.run(upload_private)
    root = write_tree(tmp_path / "p", {"a.wav": content})
    code, report = run_json(capsys, *base_args(root))
    assert code == 0
    assert report["files"][0]["status"] == "skipped"
    assert report["files"][0]["asset_id"] == private_id


def test_a_soft_deleted_duplicate_does_not_count(capsys, tmp_path: Path):
    root = write_tree(tmp_path / "t", {"a.wav": AUDIO["a.wav"]})
    first_id = run_json(capsys, *base_args(root))[1]["files"][0]["asset_id"]

    async def delete() -> None:
        async with running_engine(load_settings(), scheduled_cleanup=False) as engine:
            await engine.soft_delete(ADMIN, first_id)

    trio.run(delete)
    code, report = run_json(capsys, *base_args(root))
    assert code == 0 and report["imported"] == 1
    assert report["files"][0]["asset_id"] != first_id


def test_an_empty_directory_imports_nothing(capsys, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    code, out, _ = run_import(capsys, *base_args(tmp_path / "empty"))
    assert code == 0
    assert out.startswith("imported 0, skipped 0, rejected 0 of 0 files")


def test_keep_tree_rejects_a_directory_that_cannot_be_a_folder(capsys, tmp_path: Path):
    root = write_tree(
        tmp_path / "t", {"ok/a.wav": AUDIO["a.wav"], "bad \\name/b.wav": AUDIO["b.wav"]}
    )
    code, report = run_json(capsys, *base_args(root, "--keep-tree"))
    assert code == 1
    assert (report["imported"], report["rejected"]) == (1, 1)
    [rejected] = report["rejected_files"]
    assert rejected["path"] == "bad \\name/b.wav"
    assert rejected["reason"].startswith("the directory can't be a folder: ")


async def test_any_other_failure_rejects_that_file_and_the_import_goes_on(
    engine, tmp_path: Path, monkeypatch
):
    """Called as a library function: a file that can't be read and a catalog failure each
    reject one file, with the error's text; the rest is imported."""
    root = write_tree(tmp_path / "t", {name: AUDIO[name] for name in ("a.wav", "b.wav", "c.wav")})
    real_open, real_existing = importer._open_regular, importer._existing

    def open_regular(path: Path):
        if path.name == "a.wav":
            raise PermissionError(13, "Permission denied")
        return real_open(path)

    async def existing(engine, principal, asset_type, folder, checksum):
        if checksum == sha256(AUDIO["b.wav"]):
            raise RuntimeError("the catalog went away")
        return await real_existing(engine, principal, asset_type, folder, checksum)

    monkeypatch.setattr(importer, "_open_regular", open_regular)
    monkeypatch.setattr(importer, "_existing", existing)
    report = await importer.import_path(
        engine, root, asset_type="audio", customer=CUSTOMER, user="u", folder="/x"
    )
    assert [(f.path, f.status, f.reason, f.error) for f in report.files] == [
        ("a.wav", Status.REJECTED, "cannot read the file: Permission denied", "PermissionError"),
        ("b.wav", Status.REJECTED, "the catalog went away", "RuntimeError"),
        ("c.wav", Status.IMPORTED, None, None),
    ]
    assert report.exit_code == 1
    asset = await engine.get(ADMIN, report.files[2].asset_id)
    assert (asset.metadata.folder, asset.checksum) == ("/x", sha256(AUDIO["c.wav"]))


# --- usage errors --------------------------------------------------------------------------


def test_an_unknown_type_is_a_usage_error(capsys, library: Path):
    code, out, err = run_import(
        capsys, str(library), "--type", "mp3", "--customer", CUSTOMER, "--user", "u"
    )
    assert code == 2
    assert out == ""
    assert "--type" in err and "audio" in err and "mp3" in err


def test_a_missing_path_is_a_usage_error(capsys, tmp_path: Path, clean_env: Path):
    code, out, err = run_import(capsys, *base_args(tmp_path / "nowhere"))
    assert code == 2 and out == ""
    assert "nowhere" in err
    assert not clean_env.exists()  # checked before the backends are opened


@pytest.mark.parametrize("folder", ["podcasts", "/a/../b", "/a//b"])
def test_a_bad_folder_is_a_usage_error(capsys, library: Path, folder: str):
    code, out, err = run_import(capsys, *base_args(library, f"--folder={folder}"))
    assert code == 2 and out == ""
    assert "--folder" in err


@pytest.mark.parametrize("option", ["--customer", "--user"])
def test_an_empty_customer_or_user_is_a_usage_error(capsys, library: Path, option: str):
    args = base_args(library)
    args[args.index(option) + 1] = "  "
    code, _, err = run_import(capsys, *args)
    assert code == 2
    assert option in err


@pytest.mark.parametrize("missing", ["--type", "--customer", "--user"])
def test_required_options(capsys, library: Path, missing: str):
    args = base_args(library)
    index = args.index(missing)
    del args[index : index + 2]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["import", *args])
    assert exit_info.value.code == 2
    assert missing in capsys.readouterr().err


def test_a_bad_backend_is_a_configuration_error(capsys, library: Path, monkeypatch):
    monkeypatch.setenv("ASSET_CATALOG", "postgres://nowhere/db")
    code, _, err = run_import(capsys, *base_args(library))
    assert code == 2
    assert "ASSET_CATALOG" in err


# --- progress rendering --------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_for_picks_the_bar_on_a_terminal_only():
    assert isinstance(progress_for(FakeTerminal()), BarProgress)
    assert isinstance(progress_for(io.StringIO()), LineProgress)


def test_the_bar_redraws_in_place_and_prints_rejections_above_it():
    stream = FakeTerminal()
    bar = BarProgress(stream, columns=80, fps=1e9)
    bar.begin(2, 2048)
    bar.file_started(1, "first.wav", 1024)
    bar.advance(1024)  # hashed
    bar.phase("uploading")
    bar.advance(512)
    # A file is hashed, then uploaded: each pass counts for half of its bytes.
    assert "0/2 files" in bar.line() and "768 B/2.0 KiB" in bar.line()
    assert "uploading first.wav" in bar.line()
    bar.file_finished(FileResult("first.wav", Status.IMPORTED, 1024, "/", asset_id="x"))
    assert "1/2 files" in bar.line() and "1.0 KiB/2.0 KiB" in bar.line()
    bar.file_started(2, "second.txt", 1024)
    bar.file_finished(
        FileResult("second.txt", Status.REJECTED, 1024, "/", reason="not audio at all")
    )
    assert "2/2 files" in bar.line() and "[" + "#" * BarProgress.WIDTH + "]" in bar.line()
    bar.close()

    output = stream.getvalue()
    assert "\n" not in output.replace("rejected second.txt: not audio at all\n", "")
    frames = output.split("\r")
    assert all(len(frame) <= 79 for frame in frames if "\n" not in frame)
    assert output.endswith("\r")  # erased: the summary starts on a clean line
    assert frames[-2].strip() == ""


def test_the_bar_fits_a_narrow_terminal():
    bar = BarProgress(FakeTerminal(), columns=50)
    bar.begin(1, 10)
    bar.file_started(1, "a/very/long/path/" * 5 + "file.wav", 10)
    line = bar.line()
    assert len(line) == 49 and line.endswith("…")
