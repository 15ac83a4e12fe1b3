"""Schema-driven fuzzing: schemathesis generates requests for every operation of the live
``/openapi.json`` — valid ones and invalid ones — and sends them with a real token to a real
server holding assets of two customers. Every answer must be no 5xx, of a documented status and
content type, match its documented schema, and show nothing of the other customer.

Bounded for ``make test`` (``ASSET_FUZZ_EXAMPLES`` examples per operation and generation mode,
``ASSET_FUZZ_SECONDS`` for the whole run); ``make fuzz`` raises both. Deterministic: Hypothesis is
derandomized (a fixed seed per test) and keeps no example database.
"""

from __future__ import annotations

import io
import os
import struct
import time
import wave
import zlib
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
import trio
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from quart_trio import QuartTrio
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from asset_service.engine.model import SEED_TYPES
from asset_service.http.app import BLUEPRINTS
from asset_service.http.openapi import MULTIPART, openapi_document

from .helpers import TEXT_BYTES

EXAMPLES = int(os.environ.get("ASSET_FUZZ_EXAMPLES", "25"))
#: the whole module's budget; each operation gets its share
SECONDS = float(os.environ.get("ASSET_FUZZ_SECONDS", "50"))
#: sent whatever the time (the time limit is a guard against a slow machine, not the bound)
MIN_EXAMPLES = 5

#: the HTTP layer's contract does not depend on the blob store: its time budget is spent once
pytestmark = pytest.mark.file_store_only

# tus's bytes are plain bytes under a media type of their own
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

CUSTOMER_A = "tenant-a-5b21f8a3"
CUSTOMER_B = "tenant-b-0c7e41d9"


def routes_only() -> QuartTrio:
    """An app with the API's routes and nothing behind them: enough to describe them."""
    app = QuartTrio("asset_service")
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app


#: every operation's label (``GET /api/assets/{asset_id}``), by its operationId
OPERATIONS: dict[str, str] = {}
#: (operationId, generation mode) to run: invalid input only where there is input to spoil
RUNS: list[tuple[str, GenerationMode]] = []
for _path, _item in openapi_document(routes_only(), sorted(SEED_TYPES))["paths"].items():
    for _method, _operation in _item.items():
        OPERATIONS[_operation["operationId"]] = f"{_method.upper()} {_path}"
        RUNS.append((_operation["operationId"], GenerationMode.POSITIVE))
        if _operation.get("parameters") or _operation.get("requestBody"):
            RUNS.append((_operation["operationId"], GenerationMode.NEGATIVE))
PER_RUN_SECONDS = SECONDS / len(RUNS)


def wav_bytes(seconds: float = 0.25, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x10\x00" * int(seconds * rate))
    return buffer.getvalue()


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny, grey) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([128] * width) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Seeded:
    mine: list[str]
    theirs: list[str]


@pytest.fixture
async def seeded(create_asset, client, auth) -> Seeded:
    """Assets of customer A (the fuzzing caller's) and of customer B (that must never show)."""
    a = auth(user="fuzz-admin", customer=CUSTOMER_A, roles=("admin",))
    b = auth(user="other-editor", customer=CUSTOMER_B, roles=("editor",))
    mine = [
        (await create_asset(TEXT_BYTES, "notes.txt", headers=a, tags="work,notes"))["asset_id"],
        (await create_asset(wav_bytes(), "jingle.wav", headers=a, folder="/jingles"))["asset_id"],
        (await create_asset(png_bytes(), "logo.png", headers=a, visibility="public"))["asset_id"],
    ]
    theirs = [
        (await create_asset(TEXT_BYTES, "b.txt", headers=b, tags="work"))["asset_id"],
        (await create_asset(wav_bytes(0.5), "b.wav", headers=b, folder="/jingles"))["asset_id"],
    ]
    # a second version, so that version routes have something to restore
    files = {"file": ("notes-v2.txt", TEXT_BYTES + b"v2\n")}
    response = await client.post(f"/api/assets/{mine[0]}/versions", headers=a, files=files)
    assert response.status_code == 201, response.text
    return Seeded(mine, theirs)


def no_other_customer(seeded: Seeded):
    """A check: no answer (headers or body) mentions customer B or one of its assets, unless
    the request did (a problem may name the id it was asked about)."""
    secrets = [CUSTOMER_B, *seeded.theirs]

    def other_customer_data_never_shows(ctx: Any, response: Any, case: Any) -> None:
        answer = f"{dict(response.headers)} {response.content.decode('utf-8', 'replace')}"
        sent = f"{response.request.url} {response.request.body!r}"
        leaked = [s for s in secrets if s in answer and s not in sent]
        if leaked:
            raise AssertionError(f"customer B's data in the answer: {leaked}")

    return other_customer_data_never_shows


def with_file(drawn: tuple[Any, bytes]) -> Any:
    case, content = drawn
    if isinstance(case.body, dict) and "file" in case.body:
        case.body["file"] = content
    return case


def with_asset_ids(drawn: tuple[Any, list[str]]) -> Any:
    case, asset_ids = drawn
    if isinstance(case.body, dict):
        case.body["asset_ids"] = asset_ids
    return case


@dataclass
class Tally:
    calls: int = 0
    statuses: dict[int, int] | None = None

    def add(self, status: int) -> None:
        self.calls += 1
        self.statuses = self.statuses or {}
        self.statuses[status] = self.statuses.get(status, 0) + 1


def fuzz_operation(
    base_url: str,
    label: str,
    mode: GenerationMode,
    headers: dict[str, str],
    seeded: Seeded,
    seconds: float,
) -> Tally:
    """Blocking: load the served schema and run Hypothesis over one operation, for at most
    ``EXAMPLES`` examples and — past the first few — at most ``seconds``."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=10)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    strategies = [operation.as_strategy(generation_mode=mode)]
    if "{asset_id}" in operation.path:
        # Real ids too: customer A's (the happy paths) and customer B's (which must stay hidden).
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters={"asset_id": asset_id})
            for asset_id in [*seeded.mine, *seeded.theirs]
        ]
    if mode is GenerationMode.POSITIVE and any(b.media_type == MULTIPART for b in operation.body):
        # Random bytes are rarely of a type the service stores: send real files too, so the
        # fields are fuzzed on uploads that get as far as being committed.
        real_files = st.sampled_from([TEXT_BYTES, wav_bytes(), png_bytes()])
        strategies += [
            st.tuples(strategy, real_files).map(with_file) for strategy in list(strategies)
        ]
    if mode is GenerationMode.POSITIVE and operation.path.endswith("/move"):
        # Real ids in the body too: moving customer B's assets must fail like a missing id.
        ids = st.lists(st.sampled_from([*seeded.mine, *seeded.theirs]), min_size=1, max_size=3)
        strategies += [st.tuples(strategies[0], ids).map(with_asset_ids)]
    checks = [
        schemathesis.checks.not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        no_other_customer(seeded),
    ]
    tally = Tally()
    session = requests.Session()
    deadline = time.monotonic() + seconds

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @hypothesis.given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        if tally.calls >= MIN_EXAMPLES and time.monotonic() > deadline:
            return  # out of time: the remaining examples are drawn but not sent
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
        tally.add(response.status_code)
        case.validate_response(response, checks=checks, headers=headers)

    try:
        run()
    finally:
        session.close()
    return tally


@pytest.mark.parametrize(("operation_id", "mode"), RUNS, ids=[f"{o}-{m.value}" for o, m in RUNS])
async def test_fuzz(base_url, seeded, auth, operation_id, mode):
    label = OPERATIONS[operation_id]
    headers = auth(user="fuzz-admin", customer=CUSTOMER_A, roles=("admin",))
    tally = await trio.to_thread.run_sync(
        fuzz_operation, base_url, label, mode, headers, seeded, PER_RUN_SECONDS
    )
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted((tally.statuses or {}).items()))
    print(f"{label} [{mode.value}]: {tally.calls} requests: {statuses}")
    assert tally.calls > 0, f"{label}: no request was made"


# --- what fuzzing found, kept as plain regression tests ----------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_signature_with_non_ascii_characters_is_a_403_not_a_500(
    client, auth, seeded, method
):
    # hmac.compare_digest raised TypeError on a str with non-ASCII characters.
    url = f"/api/assets/{seeded.mine[0]}/download"
    params = {"version": "1", "expires": "4102444800", "epoch": "0", "signature": "5ð"}
    response = await client.request(method, url, params=params)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    if method == "GET":  # the comparison was reached, not refused as incomplete before it
        assert "signature" in response.json()["detail"]
