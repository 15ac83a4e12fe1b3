"""Files the code reads with ``importlib.resources`` are declared as package data, so a
non-editable install (a wheel) ships them."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_static_file_is_package_data():
    with open(ROOT / "pyproject.toml", "rb") as handle:
        declared = tomllib.load(handle)["tool"]["setuptools"]["package-data"]
    data_files = [
        path
        for path in (ROOT / "asset_service").rglob("*")
        if path.is_file() and "static" in path.relative_to(ROOT).parts
    ]
    assert data_files, "the docs page is package data"
    for path in data_files:
        relative = path.relative_to(ROOT)
        shipped = any(
            relative.is_relative_to(Path(*package.split(".")))
            and any(
                fnmatch.fnmatch(str(relative.relative_to(Path(*package.split(".")))), pattern)
                for pattern in patterns
            )
            for package, patterns in declared.items()
        )
        assert shipped, f"{relative} is read at run time but not listed as package data"
