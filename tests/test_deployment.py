"""The deployment files, checked without a Docker engine (none runs on these machines):
``docker-compose.yml`` parses, names only settings that exist (as do ``Dockerfile`` and
``deploy/nginx.conf``) and backend URLs the service accepts; MinIO and MongoDB (a one-node
replica set) have volumes and health checks the service waits for, on an internal network; two
replicas of the service, each with ``ASSET_WORKERS``, sit behind nginx; ``Dockerfile`` has what
the issue asks of it. nginx's config itself is run in tests/test_nginx_front.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from asset_service.config import known_settings, load_settings, parse_workers
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


@pytest.mark.parametrize("name", ["docker-compose.yml", "Dockerfile", "deploy/nginx.conf"])
def test_every_asset_variable_named_in_a_deployment_file_is_a_setting(name):
    """Comments and interpolations included: a renamed setting must not live on in them."""
    named = set(re.findall(r"\bASSET_[A-Z0-9_]+\b", (ROOT / name).read_text()))
    assert named, name
    unknown = named - set(known_settings())
    assert not unknown, f"{name} names what is no setting: {sorted(unknown)}"


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
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1
        assert check["retries"] >= 3
        assert service["depends_on"][name] == {"condition": "service_healthy"}
    assert "mc" in services["minio"]["healthcheck"]["test"]
    assert services["mongo"]["healthcheck"]["test"][1].startswith("mongosh ")


def test_backends_are_on_an_internal_network_only(compose, service):
    internal = {name for name, spec in compose["networks"].items() if (spec or {}).get("internal")}
    assert internal
    for name in ("minio", "mongo"):
        backend = compose["services"][name]
        assert set(backend["networks"]) <= internal, name
        assert "ports" not in backend, f"{name} publishes no port"
    assert set(service["networks"]) & internal
    assert set(service["networks"]) - internal  # and one nginx reaches it on
    nginx = compose["services"]["nginx"]
    assert not set(nginx["networks"]) & internal
    assert set(nginx["networks"]) & set(service["networks"])


def test_mongodb_is_a_one_node_replica_set_initiated_once(compose, service):
    """Change streams need a replica set. ``--replSet`` with authentication needs a key file,
    which the entrypoint makes before mongod starts; the health check initiates the set when
    ``rs.status()`` says it is not yet, and is healthy once the node is the writable primary.
    The service names the set in its URL."""
    mongo = compose["services"]["mongo"]
    command = mongo["command"]
    assert command[0] == "mongod"
    assert command[command.index("--replSet") + 1] == "rs0"
    key_file = command[command.index("--keyFile") + 1]
    script = mongo["entrypoint"][-1]
    assert "key=" + key_file in script and 'chmod 400 "$$key"' in script
    assert 'exec docker-entrypoint.sh "$$0" "$$@"' in script
    assert any(volume.endswith(":" + str(Path(key_file).parent)) for volume in mongo["volumes"])
    check = mongo["healthcheck"]["test"][1]
    assert re.search(r"try \{ rs\.status\(\) \} catch \(\w+\) \{ rs\.initiate\(", check)
    assert "_id: 'rs0', members: [{_id: 0, host: 'mongo:27017'}]" in check
    assert "isWritablePrimary" in check
    assert '"$$MONGO_INITDB_ROOT_PASSWORD"' in check  # the container's variable, not compose's
    catalog = interpolate(service["environment"]["ASSET_CATALOG"])
    assert "replicaSet=rs0" in catalog.split("?", 1)[1].split("&")


def test_two_replicas_with_workers_behind_nginx(compose, service):
    assert service["deploy"]["replicas"] == 2
    assert "ports" not in service, "two replicas cannot publish one port: nginx does"
    assert service["expose"] == ["8000"]
    workers = interpolate(str(service["environment"]["ASSET_WORKERS"]))
    assert workers == "auto" and parse_workers(workers) >= 1
    check = " ".join(service["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in check
    nginx = compose["services"]["nginx"]
    assert nginx["ports"] == ["8000:8000"]
    assert nginx["depends_on"] == {"asset-service": {"condition": "service_healthy"}}
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in nginx["volumes"])
    assert mounts["./deploy/nginx.conf"] == "/etc/nginx/conf.d/default.conf"
    assert (ROOT / "deploy" / "nginx.conf").is_file()
    # the X-Accel-Redirect location reads the service's data volume, read-only
    data_volume = next(v for v in service["volumes"] if v.endswith(":/var/lib/asset-service"))
    assert f"{data_volume}:ro" in nginx["volumes"]
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"server asset-service:8000 resolve;", config)
    # ... where the image's filesystem store keeps its blobs
    image_env = dict(re.findall(r"\b(ASSET_[A-Z_]+)=(\S+)", (ROOT / "Dockerfile").read_text()))
    assert image_env["ASSET_PORT"] == "8000"
    blobs = load_settings({"ASSET_DATA_DIR": image_env["ASSET_DATA_DIR"]}).blob_store_url
    assert f"alias {blobs.removeprefix('file://')}/;" in config


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
