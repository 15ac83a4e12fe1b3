"""The deployment files, checked without a Docker engine (none runs on these machines):
``docker-compose.yml`` parses, its service is configured only with settings that exist and with
backend URLs the service accepts, MinIO and MongoDB have volumes and health checks the service
waits for, on an internal network; ``Dockerfile`` has what the issue asks of it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from asset_service.config import known_settings
from asset_service.engine.adapters.mongo import MongoCatalog
from asset_service.engine.adapters.s3 import MinioBlobStore
from asset_service.wiring import blob_store_from_url, catalog_from_url

ROOT = Path(__file__).resolve().parent.parent
#: what ``${NAME:?…}`` / ``${NAME:-default}`` / ``${NAME}`` in the compose file are replaced by
EXAMPLE_ENV = {
    "ASSET_JWT_SECRET": "x" * 48,
    "MINIO_ROOT_USER": "assets",
    "MINIO_ROOT_PASSWORD": "0123456789abcdef0123456789abcdef",
    "MONGO_ROOT_USER": "assets",
    "MONGO_ROOT_PASSWORD": "fedcba9876543210fedcba9876543210",
}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?::[?-])(?P<rest>[^}]*))?\}")


def interpolate(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name in EXAMPLE_ENV:
            return EXAMPLE_ENV[name]
        assert match.group(0).startswith(f"${{{name}:-"), f"{name} has no default"
        return match["rest"]

    return _VARIABLE.sub(replace, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def service(compose) -> dict[str, Any]:
    return compose["services"]["asset-service"]


def test_the_service_is_configured_only_with_real_settings(service):
    environment = service["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - set(known_settings())
    assert not unknown, f"not settings of the service: {sorted(unknown)}"


def test_the_service_uses_minio_and_mongodb_with_urls_it_accepts(service):
    environment = {name: interpolate(str(value)) for name, value in service["environment"].items()}
    store = blob_store_from_url(environment["ASSET_BLOB_STORE"])
    assert isinstance(store, MinioBlobStore)
    assert store.options.endpoint == "minio:9000"
    assert store.options.access_key == EXAMPLE_ENV["MINIO_ROOT_USER"]
    assert store.options.secret_key == EXAMPLE_ENV["MINIO_ROOT_PASSWORD"]
    catalog = catalog_from_url(environment["ASSET_CATALOG"])
    assert isinstance(catalog, MongoCatalog)
    assert catalog.url.startswith("mongodb://assets:") and "@mongo:27017/" in catalog.url
    assert catalog.database_name == "assets"


def test_secrets_come_from_the_environment(compose):
    """No credential is written into the file: each is a required ``${VARIABLE:?…}``."""
    services = compose["services"]
    for name, key in [
        ("asset-service", "ASSET_JWT_SECRET"),
        ("minio", "MINIO_ROOT_USER"),
        ("minio", "MINIO_ROOT_PASSWORD"),
        ("mongo", "MONGO_INITDB_ROOT_USERNAME"),
        ("mongo", "MONGO_INITDB_ROOT_PASSWORD"),
    ]:
        assert str(services[name]["environment"][key]).startswith("${"), (name, key)
        assert ":?" in str(services[name]["environment"][key]), (name, key)
    for key in ("ASSET_BLOB_STORE", "ASSET_CATALOG"):
        url = str(services["asset-service"]["environment"][key])
        assert "${" in url.split("@")[0], key  # the credentials part is interpolated


def test_backends_have_volumes_and_health_checks_the_service_waits_for(compose, service):
    services = compose["services"]
    for name, data_path in (("minio", "/data"), ("mongo", "/data/db")):
        backend = services[name]
        volume = next(v for v in backend["volumes"] if v.endswith(f":{data_path}"))
        assert volume.split(":")[0] in compose["volumes"], f"{name}: a named volume"
        check = backend["healthcheck"]
        assert check["test"][0] == "CMD" and len(check["test"]) > 1
        assert check["retries"] >= 3
        assert service["depends_on"][name] == {"condition": "service_healthy"}
    assert "mc" in services["minio"]["healthcheck"]["test"]
    assert "mongosh" in services["mongo"]["healthcheck"]["test"]


def test_backends_are_on_an_internal_network_only(compose, service):
    internal = {name for name, spec in compose["networks"].items() if (spec or {}).get("internal")}
    assert internal
    for name in ("minio", "mongo"):
        backend = compose["services"][name]
        assert set(backend["networks"]) <= internal, name
        assert "ports" not in backend, f"{name} publishes no port"
    assert set(service["networks"]) & internal
    assert set(service["networks"]) - internal  # and one it is reached on
    assert "8000:8000" in service["ports"]


def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim" or any(
        line.startswith("FROM python:3.11-slim") for line in lines
    )
    assert re.search(r"apt-get install[^\n]*\bffmpeg\b", text)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    healthcheck = next(line for line in lines if line.startswith("HEALTHCHECK"))
    assert "/healthz" in text[text.index(healthcheck) :].split("\n\n")[0]
    assert lines[-1] == 'CMD ["asset-service", "serve"]'
    # the image serves on every core by default (supervisor.py)
    assert re.search(r"\bASSET_WORKERS=auto\b", text)
