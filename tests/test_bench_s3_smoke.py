"""``bench/s3_throughput.py`` in its quickest mode (``--quick``: 16 MiB, one round, no 2 GiB RSS
run) against the session's moto_server, so that ``make test`` notices when the benchmark breaks.
It asserts that the run produces its figures, never how fast they are: speed is measured in
bench/, not asserted in tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import moto_s3_url

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_the_s3_bench_produces_its_figures(tmp_path: Path, moto_url: str) -> None:
    output = tmp_path / "s3_throughput.json"
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "s3_throughput.py"), "--quick"),
            *("--s3-url", moto_s3_url(moto_url)),
            *("--tmp-dir", str(tmp_path), "--output", str(output)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(output.read_text())
    for figures in (
        "sdk_put_mib_s",
        "sdk_get_mib_s",
        "service_upload_mib_s",
        "service_download_mib_s",
    ):
        assert len(result[figures]) == 1 and result[figures][0] > 0, result
    assert result["upload_ratio"] > 0 and result["download_ratio"] > 0
    assert "ratio service/SDK" in done.stdout
    # The quick mode leaves the 2 GiB RSS run out.
    assert "server_upload_peak_rss_mib" not in result
