"""The CLI and the configuration, without a server: ``asset-service token``, the secret kept in
the data dir, and ``load_settings`` (environment, TOML file, errors)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from asset_service import cli
from asset_service.config import ConfigError, Settings, known_settings, load_settings
from asset_service.engine.model import Principal, Role
from asset_service.http.app import token_policy
from asset_service.http.auth import verify_token

SECRET = "cli-test-secret-long-enough-for-hs256-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ASSET_* from the caller's shell, and a data dir of the test's own (an empty one:
    ``./data`` of a developer who ran ``make run`` holds a secret)."""
    for name in list(os.environ):
        if name.startswith("ASSET_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ASSET_DATA_DIR", str(data_dir))
    return data_dir


def run_token(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["token", *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- token -------------------------------------------------------------------------------


def test_token_is_accepted_with_the_right_claims(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    before = time.time()
    code, out, err = run_token(
        capsys, "--user", "alice", "--customer", "acme", "--role", "editor", "--ttl", "600"
    )
    assert code == 0, err
    token = out.strip()
    assert out.count("\n") == 1 and token.count(".") == 2  # one JWT, alone on its line

    principal = verify_token(token_policy(load_settings()), token)
    assert principal == Principal("alice", "acme", frozenset({Role.EDITOR}))

    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["customer_id"] == "acme"
    assert claims["roles"] == ["editor"]
    assert before + 600 - 2 <= claims["exp"] <= time.time() + 600 + 1
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_token_default_ttl_is_an_hour(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    code, out, _ = run_token(capsys, "--user", "u", "--customer", "c", "--role", "viewer")
    assert code == 0
    claims = jwt.decode(out.strip(), SECRET, algorithms=["HS256"])
    assert abs(claims["exp"] - (time.time() + 3600)) <= 2


def test_token_with_several_roles(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    code, out, _ = run_token(
        capsys, "--user", "svc", "--customer", "acme", "--role", "service", "--role", "admin"
    )
    assert code == 0
    claims = jwt.decode(out.strip(), SECRET, algorithms=["HS256"])
    assert claims["roles"] == ["service", "admin"]
    principal = verify_token(token_policy(load_settings()), out.strip())
    assert principal.roles == {Role.SERVICE, Role.ADMIN}


def test_token_uses_the_secret_kept_in_the_data_dir(capsys, clean_env: Path):
    clean_env.mkdir(parents=True)
    (clean_env / cli.SECRET_FILE).write_text(SECRET + "\n")
    code, out, err = run_token(capsys, "--user", "dev", "--customer", "dev", "--role", "admin")
    assert code == 0, err
    principal = verify_token(token_policy(Settings(jwt_secret=SECRET)), out.strip())
    assert principal == Principal("dev", "dev", frozenset({Role.ADMIN}))


def test_the_environment_secret_wins_over_the_file(capsys, monkeypatch, clean_env: Path):
    clean_env.mkdir(parents=True)
    (clean_env / cli.SECRET_FILE).write_text("the-file-secret-" + "x" * 40 + "\n")
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    code, out, _ = run_token(capsys, "--user", "u", "--customer", "c", "--role", "viewer")
    assert code == 0
    jwt.decode(out.strip(), SECRET, algorithms=["HS256"])  # signed with the environment's


def test_token_without_any_secret_is_a_clear_error(capsys, clean_env: Path):
    code, out, err = run_token(capsys, "--user", "u", "--customer", "c", "--role", "viewer")
    assert code == 2
    assert out == ""
    assert "ASSET_JWT_SECRET" in err
    assert "ASSET_DATA_DIR" in err  # the data directory of `make run` is the other way
    assert str(clean_env / cli.SECRET_FILE) in err
    assert not (clean_env / cli.SECRET_FILE).exists()  # `token` never creates a secret


def test_token_with_an_unknown_role_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["token", "--user", "u", "--customer", "c", "--role", "superuser"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "superuser" in err


def test_token_needs_user_customer_and_role(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["token", "--user", "u", "--role", "viewer"])
    assert exit_info.value.code == 2
    assert "--customer" in capsys.readouterr().err


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_token_ttl_must_be_positive(capsys, monkeypatch, ttl):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    code, out, err = run_token(
        capsys, "--user", "u", "--customer", "c", "--role", "viewer", f"--ttl={ttl}"
    )
    assert code == 2
    assert out == ""
    assert "--ttl" in err


def test_token_with_a_bad_setting_is_a_configuration_error(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    monkeypatch.setenv("ASSET_PORT", "eighty")
    code, _, err = run_token(capsys, "--user", "u", "--customer", "c", "--role", "viewer")
    assert code == 2
    assert "configuration error" in err and "ASSET_PORT" in err


def test_serve_with_an_unknown_backend_exits_before_serving(capsys, monkeypatch):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    monkeypatch.setenv("ASSET_BLOB_STORE", "ftp://example.invalid/blobs")
    assert cli.main(["serve"]) == 2
    assert "ASSET_BLOB_STORE" in capsys.readouterr().err


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2


# --- the development secret --------------------------------------------------------------


def test_with_secret_creates_a_private_secret_once(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "fresh")
    first = cli.with_secret(settings, create=True)
    path = tmp_path / "fresh" / cli.SECRET_FILE
    assert len(first.jwt_secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = cli.with_secret(settings, create=True)
    assert again.jwt_secret == first.jwt_secret  # kept, not replaced
    assert cli.with_secret(settings, create=False).jwt_secret == first.jwt_secret


def test_with_secret_keeps_a_configured_secret(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET)
    assert cli.with_secret(settings, create=True) is settings
    assert not (tmp_path / cli.SECRET_FILE).exists()


# --- load_settings -----------------------------------------------------------------------


def test_defaults():
    settings = load_settings({})
    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == Path("./data")
    assert settings.jwt_algorithms == ("HS256",)
    assert settings.blob_store_url == f"file://{Path('data/blobs').resolve()}"
    assert settings.catalog_url == f"sqlite:///{Path('data/catalog.db').resolve()}"


def test_settings_from_the_environment(tmp_path: Path):
    settings = load_settings(
        {
            "ASSET_HOST": "0.0.0.0",
            "ASSET_PORT": "9000",
            "ASSET_DATA_DIR": str(tmp_path),
            "ASSET_JWT_SECRET": SECRET,
            "ASSET_JWT_ALGORITHMS": "HS256, HS512",
            "ASSET_JWT_AUDIENCE": "assets",
            "ASSET_JWT_LEEWAY": "2.5",
            "ASSET_MAX_UPLOAD_BYTES": "1048576",
            "ASSET_MAX_VERSIONS": "3",
            "ASSET_TRASH_RETENTION": "60",
            "ASSET_LOG_LEVEL": "debug",
            "ASSET_CATALOG": "",  # empty means unset
            "OTHER_VARIABLE": "ignored",
        }
    )
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.data_dir == tmp_path
    assert settings.jwt_secret == SECRET
    assert settings.jwt_algorithms == ("HS256", "HS512")
    assert settings.jwt_audience == "assets"
    assert settings.jwt_leeway == 2.5
    assert settings.max_upload_bytes == 1048576
    assert settings.max_versions == 3
    assert settings.trash_retention == 60.0
    assert settings.log_level == "debug"
    assert settings.catalog == ""
    assert settings.catalog_url == f"sqlite:///{(tmp_path / 'catalog.db').resolve()}"
    engine_config = settings.engine_config()
    assert engine_config.max_upload_bytes == 1048576
    assert engine_config.max_versions == 3


def write_toml(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_settings_from_a_toml_file(tmp_path: Path):
    config = write_toml(
        tmp_path / "asset.toml",
        'host = "0.0.0.0"\n'
        "port = 9100\n"
        f'data_dir = "{tmp_path}"\n'
        'jwt_algorithms = ["HS256", "HS384"]\n'
        "temp_ttl = 120\n"
        "max_upload_bytes = 2048\n",
    )
    settings = load_settings({"ASSET_CONFIG": config})
    assert settings.host == "0.0.0.0"
    assert settings.port == 9100
    assert settings.data_dir == tmp_path
    assert settings.jwt_algorithms == ("HS256", "HS384")
    assert settings.temp_ttl == 120.0
    assert settings.max_upload_bytes == 2048


def test_the_environment_overrides_the_file(tmp_path: Path):
    config = write_toml(tmp_path / "asset.toml", 'port = 9100\nlog_level = "WARNING"\n')
    settings = load_settings({"ASSET_CONFIG": config, "ASSET_PORT": "9200"})
    assert settings.port == 9200
    assert settings.log_level == "WARNING"  # the file still counts where the env is silent


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path):
    config = write_toml(tmp_path / "asset.toml", "prot = 9100\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({"ASSET_CONFIG": config})


def test_a_missing_or_malformed_file_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="ASSET_CONFIG"):
        load_settings({"ASSET_CONFIG": str(tmp_path / "missing.toml")})
    broken = write_toml(tmp_path / "broken.toml", "port = = 1\n")
    with pytest.raises(ConfigError, match="ASSET_CONFIG"):
        load_settings({"ASSET_CONFIG": broken})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASSET_PORT", "eighty"),
        ("ASSET_PORT", "80.5"),
        ("ASSET_MAX_UPLOAD_BYTES", "5GB"),
        ("ASSET_JWT_LEEWAY", "soon"),
        ("ASSET_PORT", "-1"),
        ("ASSET_TEMP_TTL", "-3"),
    ],
)
def test_a_bad_number_is_an_error(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_a_bad_number_in_the_file_is_an_error(tmp_path: Path):
    config = write_toml(tmp_path / "asset.toml", 'port = "http"\n')
    with pytest.raises(ConfigError, match="ASSET_PORT"):
        load_settings({"ASSET_CONFIG": config})


@pytest.mark.parametrize("algorithms", ["none", "NONE", "HS256,none", "HS256, None"])
def test_the_none_algorithm_is_never_allowed(algorithms: str):
    with pytest.raises(ConfigError, match="none"):
        load_settings({"ASSET_JWT_ALGORITHMS": algorithms})


def test_none_in_the_file_is_refused_too(tmp_path: Path):
    config = write_toml(tmp_path / "asset.toml", 'jwt_algorithms = ["HS256", "none"]\n')
    with pytest.raises(ConfigError, match="none"):
        load_settings({"ASSET_CONFIG": config})


def test_range_checks():
    with pytest.raises(ConfigError, match="ASSET_MAX_VERSIONS"):
        load_settings({"ASSET_MAX_VERSIONS": "0"})
    with pytest.raises(ConfigError, match="ASSET_CLEANUP_INTERVAL"):
        load_settings({"ASSET_CLEANUP_INTERVAL": "0"})


@pytest.mark.parametrize("value", ["0", "0.5", "3601", "-1", "soon"])
def test_the_commit_takeover_interval_is_bounded(value: str):
    with pytest.raises(ConfigError, match="ASSET_COMMIT_TAKEOVER_INTERVAL"):
        load_settings({"ASSET_COMMIT_TAKEOVER_INTERVAL": value})


def test_the_commit_takeover_interval_reaches_the_engine():
    assert load_settings({}).engine_config().commit_takeover_interval == 30.0
    settings = load_settings({"ASSET_COMMIT_TAKEOVER_INTERVAL": "3600"})
    assert settings.engine_config().commit_takeover_interval == 3600.0


def test_known_settings_name_every_variable():
    names = known_settings()
    assert names[0] == "ASSET_CONFIG"
    for name in (
        "ASSET_HOST",
        "ASSET_PORT",
        "ASSET_DATA_DIR",
        "ASSET_JWT_SECRET",
        "ASSET_BLOB_STORE",
        "ASSET_CATALOG",
        "ASSET_PLUGINS_CONFIG",
    ):
        assert name in names
    assert "ASSET_EXTRA" not in names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customer", "acme/evil"), "--customer"),
        (("--customer", "acme", "--ttl", str(8 * 86400)), "ASSET_JWT_MAX_LIFETIME"),
    ],
)
def test_token_refuses_what_the_service_would_refuse(capsys, monkeypatch, args, message):
    monkeypatch.setenv("ASSET_JWT_SECRET", SECRET)
    code, out, err = run_token(capsys, "--user", "u", "--role", "viewer", *args)
    assert code == 2 and out == "" and message in err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASSET_EVENT_POLL_INTERVAL", "0"),
        ("ASSET_EVENT_POLL_INTERVAL", "11"),
        ("ASSET_EVENT_POLL_INTERVAL", "soon"),
        ("ASSET_EVENT_RETENTION", "599"),
        ("ASSET_EVENT_RETENTION_COUNT", "9999"),
        ("ASSET_EVENT_RETENTION_COUNT", "100001"),
    ],
)
def test_the_event_log_settings_are_bounded(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_the_event_log_settings_reach_the_engine():
    settings = load_settings(
        {
            "ASSET_EVENT_POLL_INTERVAL": "0.25",
            "ASSET_EVENT_RETENTION": "3600",
            "ASSET_EVENT_RETENTION_COUNT": "100000",
        }
    )
    config = settings.engine_config()
    assert (config.event_poll_interval, config.event_retention) == (0.25, 3600.0)
    assert config.event_retention_count == 100_000
