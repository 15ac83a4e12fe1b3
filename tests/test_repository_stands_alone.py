"""The repository stands on its own: no file cites design notes kept outside it. Its own
docs/architecture.md and docs/decisions.md are what code, tests and docs cite."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# spelt in two halves so that this file does not match itself
OUTSIDE_CITATIONS = ("DESIGN " + "§", "FIELD-" + "NOTES")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, timeout=30
    )
    if listed.returncode != 0:  # not a git checkout (an sdist): every file below the root
        return [path for path in ROOT.rglob("*") if path.is_file() and ".venv" not in path.parts]
    return [ROOT / name for name in listed.stdout.decode().split("\0") if name]


def test_no_file_cites_notes_outside_the_repository() -> None:
    found = []
    for path in tracked_files():
        try:
            text = path.read_text(errors="ignore")
        except (OSError, IsADirectoryError):
            continue
        found += [f"{path.relative_to(ROOT)}: {c}" for c in OUTSIDE_CITATIONS if c in text]
    assert found == []


def test_the_design_documents_exist() -> None:
    for name in ("architecture.md", "decisions.md"):
        assert (ROOT / "docs" / name).stat().st_size > 1000
