"""``serve`` with ``ASSET_WORKERS=2``: a supervisor and two serving processes on one address,
each with its own engine over the same data dir — the embedded analogue of two instances.

Real processes throughout: the supervisor is ``python -m asset_service.cli serve`` and its
workers are found through ``/proc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from server_process import (
    ServerProcess,
    catalog_assets,
    mint_token,
    run_cli,
    server_env,
    text_bytes,
    wait_until,
)

from asset_service.config import ConfigError, load_settings, parse_workers, usable_cores

pytestmark = pytest.mark.slow

CUSTOMER = "acme"
#: two workers import and open their engines at once: slow on a loaded machine
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30
#: the cores this process may run on
AFFINITY = len(os.sched_getaffinity(0))


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields follow the last ")"
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(customer=CUSTOMER, roles=['admin'])}"}


def two_workers(server: ServerProcess) -> list[int]:
    """The two workers, once both serve (each logs it)."""
    server.wait_for_log("worker 0 asset_service: serving on", timeout=30)
    server.wait_for_log("worker 1 asset_service: serving on", timeout=30)

    def both() -> list[int] | None:
        workers = children_of(server.pid)
        return workers if len(workers) == 2 else None

    return wait_until(both, 10, "two worker processes")


def upload(base_url: str, number: int) -> httpx.Response:
    body = text_bytes(4096 + number, seed=number)
    # a new connection per request, so that both workers get a share of them
    with httpx.Client(timeout=30) as client:
        return client.post(
            f"{base_url}/api/assets/upload",
            headers=headers(),
            files={"file": (f"note-{number}.txt", body, "text/plain")},
            data={"tags": "workers", "folder": "/shared"},
        )


def test_two_workers_serve_one_address_over_one_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ServerProcess(start_timeout=START_TIMEOUT, env=server_env(data_dir, workers=2)) as server:
        workers = two_workers(server)
        assert len(set(workers)) == 2 and server.pid not in workers

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: upload(server.base_url, n), range(24)))
        assert [answer.status_code for answer in answers] == [201] * 24
        ids = {answer.json()["asset_id"] for answer in answers}

        # Every record is there and readable whichever worker answers.
        for _ in range(4):
            with httpx.Client(timeout=30) as client:
                found = client.get(
                    f"{server.base_url}/api/assets/search",
                    params={"tags": "workers", "limit": 100},
                    headers=headers(),
                ).json()
            assert {item["asset_id"] for item in found["items"]} == ids

        # Edits and soft deletes from many connections at once: both workers write through
        # the one SQLite file (WAL, busy timeout, BEGIN IMMEDIATE); none may end in a 5xx.
        edited, deleted = sorted(ids)[1:13], sorted(ids)[13:]

        def write(job: tuple[str, str]) -> int:
            action, asset_id = job
            url = f"{server.base_url}/api/assets/{asset_id}"
            with httpx.Client(timeout=30) as client:
                if action == "edit":
                    answer = client.put(url, headers=headers(), json={"title": f"t-{asset_id}"})
                else:
                    answer = client.delete(url, headers=headers())
            return answer.status_code

        jobs = [("edit", a) for a in edited] + [("delete", a) for a in deleted]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(write, jobs))
        assert statuses == [200] * len(edited) + [204] * len(deleted)
        for asset_id in edited:
            record = httpx.get(f"{server.base_url}/api/assets/{asset_id}", headers=headers())
            assert record.json()["metadata"]["title"] == f"t-{asset_id}"

        # New versions of one asset from many connections at once stay consecutive.
        target = sorted(ids)[0]

        def new_version(number: int) -> int:
            with httpx.Client(timeout=60) as client:
                return client.post(
                    f"{server.base_url}/api/assets/{target}/versions",
                    headers=headers(),
                    files={"file": ("next.txt", text_bytes(2048, seed=100 + number), "text/plain")},
                ).status_code

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(new_version, range(6)))
        assert statuses.count(201) + statuses.count(409) == 6 and 201 in statuses
        record = httpx.get(f"{server.base_url}/api/assets/{target}", headers=headers()).json()
        numbers = [version["version"] for version in record["versions"]]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) == 1 + statuses.count(201)

        server.terminate()
        assert server.wait(STOP_TIMEOUT) == 0
    stored = catalog_assets(data_dir, CUSTOMER)
    assert {asset.asset_id for asset in stored} == ids
    assert {asset.asset_id for asset in stored if asset.deleted_at is not None} == set(deleted)


def test_a_worker_that_dies_is_restarted_and_the_log_says_so(tmp_path: Path) -> None:
    with ServerProcess(
        start_timeout=START_TIMEOUT, env=server_env(tmp_path / "data", workers=2)
    ) as server:
        first, second = two_workers(server)
        os.kill(first, signal.SIGKILL)
        server.wait_for_log("exited with signal SIGKILL", timeout=10)
        server.wait_for_log("restarting", timeout=10)
        replacement = wait_until(
            lambda: [pid for pid in children_of(server.pid) if pid not in (first, second)],
            30,
            "a new worker",
        )
        assert alive(second) and len(replacement) == 1
        for _ in range(6):
            with httpx.Client(timeout=30) as client:
                assert client.get(f"{server.base_url}/healthz").status_code == 200
        server.terminate()
        assert server.wait(STOP_TIMEOUT) == 0


def test_sigterm_drains_every_worker_and_exits_zero(tmp_path: Path) -> None:
    with ServerProcess(
        start_timeout=START_TIMEOUT, env=server_env(tmp_path / "data", workers=2)
    ) as server:
        workers = two_workers(server)
        created = upload(server.base_url, 1)
        assert created.status_code == 201
        server.terminate()
        assert server.wait(STOP_TIMEOUT) == 0
        log = server.log_text()
        for index in (0, 1):
            assert f"worker {index} asset_service: received SIGTERM" in log
        assert "stopping 2 workers gracefully" in log
        wait_until(lambda: not any(alive(pid) for pid in workers), 10, "the workers to exit")


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with ServerProcess(
        start_timeout=START_TIMEOUT, env=server_env(tmp_path / "data", workers=2)
    ) as server:
        workers = two_workers(server)
        server.kill()
        wait_until(lambda: not any(alive(pid) for pid in workers), 20, "orphaned workers to exit")


def test_one_worker_serves_in_process(tmp_path: Path) -> None:
    with ServerProcess(
        start_timeout=START_TIMEOUT, env=server_env(tmp_path / "data", workers=1)
    ) as server:
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
        assert children_of(server.pid) == []
        server.terminate()
        assert server.wait(STOP_TIMEOUT) == 0


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("4", 4), (" auto ", usable_cores())])
def test_worker_counts(raw: str, expected: int) -> None:
    assert parse_workers(raw) == expected
    assert load_settings({"ASSET_WORKERS": raw}).workers == expected


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", AFFINITY),
        ("150000 100000\n", min(AFFINITY, 2)),  # docker run --cpus 1.5
        ("50000 100000\n", 1),
        ("6400000 100000\n", AFFINITY),  # a quota above the cores we may run on
        ("garbage\n", AFFINITY),
        (None, AFFINITY),  # no cgroup v2 file
    ],
)
def test_auto_counts_the_cores_of_a_container(tmp_path: Path, cpu_max, expected) -> None:
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert usable_cores(path) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "65", "two", "1.5"])
def test_bad_worker_counts_are_configuration_errors(raw: str) -> None:
    with pytest.raises(ConfigError, match="ASSET_WORKERS"):
        load_settings({"ASSET_WORKERS": raw})


def test_serve_refuses_a_bad_workers_flag(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data")
    with pytest.raises(AssertionError, match="exited with 2"):
        run_cli(env, "serve", "--workers", "0", timeout=20)


def test_workers_that_cannot_start_stop_the_supervisor_with_exit_2(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", workers=2, plugins_config=tmp_path / "missing.toml")
    done = subprocess.run(
        [sys.executable, "-m", "asset_service.cli", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr.decode()
    assert b"before serving" in done.stderr
    assert b"listening on" not in done.stdout
