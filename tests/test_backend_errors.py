"""``asset-service serve`` against production backends that are not there or refuse it: one
clear line saying which backend and why, and exit code 3 — before anything is served."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asset_service import cli
from tests.backends import free_port, moto_s3_url, new_bucket_prefix

SECRET = "backend-errors-test-secret-long-enough-for-hs256-0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ASSET_") and not name.startswith("ASSET_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ASSET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    monkeypatch.setenv("ASSET_PORT", "0")


def serve(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli.main(["serve"])
    out, err = capsys.readouterr()
    assert "listening" not in out
    return code, err.strip().splitlines()


def test_an_unreachable_blob_store(capsys, monkeypatch):
    port = free_port()
    monkeypatch.setenv("ASSET_BLOB_STORE", f"s3://key:secret@127.0.0.1:{port}?secure=false")
    code, lines = serve(capsys)
    assert code == 3
    assert len(lines) == 1, lines
    assert lines[0].startswith("asset-service: backend unavailable: ")
    assert f"S3 blob store http://127.0.0.1:{port} is unreachable" in lines[0]
    assert "secret" not in lines[0]


def test_refused_blob_store_credentials(capsys, monkeypatch, moto_checking_credentials):
    url = moto_s3_url(moto_checking_credentials, new_bucket_prefix())
    monkeypatch.setenv("ASSET_BLOB_STORE", url)
    code, lines = serve(capsys)
    assert code == 3
    assert len(lines) == 1, lines
    assert "refused the credentials of access key 'testing'" in lines[0]


def test_an_unreachable_catalog(capsys, monkeypatch):
    port = free_port()
    url = f"mongodb://user:pw@127.0.0.1:{port}/assets?serverSelectionTimeoutMS=500"
    monkeypatch.setenv("ASSET_CATALOG", url)
    code, lines = serve(capsys)
    assert code == 3
    assert len(lines) == 1, lines
    assert f"MongoDB catalog at mongodb://user:***@127.0.0.1:{port}/assets" in lines[0]
    assert "unreachable" in lines[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASSET_BLOB_STORE", "s3://no-credentials@minio:9000"),
        ("ASSET_BLOB_STORE", "s3://k:s@minio:9000?colour=blue"),
        ("ASSET_CATALOG", "mongodb://mongo:notaport/assets"),
    ],
)
def test_a_malformed_backend_url_is_a_configuration_error(capsys, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    code, lines = serve(capsys)
    assert code == 2
    assert len(lines) == 1 and name in lines[0], lines
