"""Crash harness (issue 8): the real server as a subprocess, a seeded plan of uploads, new
versions and metadata edits sent by a few concurrent clients, and SIGKILLs at seeded moments.

Each *life* of the server: start it on the same data dir; run one ``cleanup --once`` pass with a
zero temp TTL (the restarted server is idle, so whatever is in the temp area is a crash's
leftover); check the invariant; send the next few operations of the plan from ``--clients``
threads; SIGKILL the server a seeded delay after the life's last operation has started —
mid-body, mid-commit, mid-answer or idle, wherever that lands. Operations a kill cut are not
retried; operations never sent go to the next life. After the last operation one more life
checks everything and downloads every version.

The invariant, checked after every restart and cleanup pass:

- every operation the API acknowledged is there: an upload's record with its sha256, a new
  version under its number with its sha256, an edit's title and tags (or those of a later edit
  to the same asset whose answer was lost);
- nothing half-written: each version of each record has a blob of the recorded size and sha256,
  numbered 1, 2, 3… with the current one last; a record or a version nobody was told about must
  come from a request the kill cut, with exactly the bytes it sent (its commit finished, its
  answer did not get out) — it is then adopted and counted;
- nothing left: no temp blob, no partial write, no blob that no version points to;
- through the API: every record reads with its checksum, every version added since the last
  check downloads with its sha256, and search lists exactly the records there are.

``--seed`` fixes the plan: each operation's kind, size, content and target, how many
operations each life gets, and each kill's delay. Where a kill lands inside the server still
depends on timing, so a replay hits the same windows approximately, not byte for byte.

Usage: ``python tests/crash_harness.py [--ops 100] [--seed N] [--clients 3] [--json FILE]``
(``make crash``). ``tests/test_crash_harness.py`` runs a shorter plan inside ``make test``.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_process import (
    ServerProcess,
    asset_blobs,
    catalog_assets,
    mint_token,
    png_bytes,
    run_cleanup_once,
    server_env,
    sha256,
    temp_and_partial_files,
    text_bytes,
)

CUSTOMER = "crash-harness"
KINDS = ("upload", "version", "edit")
KIND_WEIGHTS = (0.45, 0.30, 0.25)
MIN_SIZE, MAX_SIZE = 512, 6 * 1024 * 1024
#: operations per life, and how long after the life's last operation started it is killed
LIFE_OPS = (2, 8)
MAX_KILL_DELAY = 0.25
MAX_COMMIT_DELAY = 0.03
REQUEST_TIMEOUT = 60.0


class InvariantBroken(AssertionError):
    """What was found contradicts what the API said or what must never be visible."""


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    number: int
    kind: str
    size: int
    #: an image (a PNG) or a document (text); a new version takes its asset's kind instead
    image: bool
    #: picks the target among the assets known when the operation runs (0 <= pick < 1)
    pick: float

    def content(self, seed: int, image: bool) -> bytes:
        make = png_bytes if image else text_bytes
        return make(self.size, seed * 100_003 + self.number)

    def filename(self, image: bool) -> str:
        return f"op-{self.number}.{'png' if image else 'txt'}"


def make_plan(seed: int, count: int) -> list[Operation]:
    rng = random.Random(seed)
    plan = []
    for number in range(count):
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        # log-uniform: many small files, some big enough for a kill to land mid-body
        size = int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE))))
        plan.append(Operation(number, kind, size, rng.random() < 0.4, rng.random()))
    return plan


@dataclass(frozen=True, slots=True)
class KillPoint:
    """When a life ends: ``delay`` seconds after its last operation has started sending
    (``after_body=False``: anywhere in its body or later) or has sent its whole body
    (``after_body=True``: inside the commit or the answer)."""

    after_body: bool
    delay: float


def make_lives(seed: int, count: int) -> list[tuple[int, KillPoint]]:
    """(operations, kill point) per life, enough lives for ``count`` operations."""
    rng = random.Random(seed + 1)
    lives, total = [], 0
    while total < count:
        size = rng.randint(*LIFE_OPS)
        if rng.random() < 0.5:
            kill = KillPoint(False, rng.uniform(0.0, MAX_KILL_DELAY))
        else:
            kill = KillPoint(True, rng.uniform(0.0, MAX_COMMIT_DELAY))
        lives.append((size, kill))
        total += size
    return lives


def streamed(body: bytes, on_sent: Callable[[], None]) -> Iterator[bytes]:
    """``body`` in pieces, calling ``on_sent`` once httpx has asked for more after the last
    piece — that is, once all of it has been written to the socket."""
    for start in range(0, len(body), 256 * 1024):
        yield body[start : start + 256 * 1024]
    on_sent()


def form_body(fields: dict[str, str], filename: str, content: bytes) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data upload."""
    boundary = "crash-harness-boundary-5e0c"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


Label = tuple[str | None, tuple[str, ...]]


def label_of(title: str | None, tags: Any) -> Label:
    """An edit's visible effect, compared as a title and a tag set (the service sorts tags)."""
    return title, tuple(sorted(tags))


# --- what the API has told us ----------------------------------------------------------------


@dataclass(slots=True)
class KnownAsset:
    asset_id: str
    image: bool
    #: version number -> sha256, for versions acknowledged (or adopted after a cut)
    versions: dict[int, str]
    #: the (title, tags) the record may show: one after an acknowledged edit, more after cuts
    labels: set[Label]
    #: sha256 of new versions whose requests were cut: each may or may not have landed
    cut_versions: list[str] = field(default_factory=list)
    downloaded: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Model:
    assets: dict[str, KnownAsset] = field(default_factory=dict)
    #: sha256 -> ((title, tags), image?) of uploads whose requests were cut
    cut_uploads: dict[str, tuple[Label, bool]] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_target(self, pick: float) -> KnownAsset | None:
        with self.lock:
            idle = sorted(a for a in self.assets if a not in self.busy)
            if not idle:
                return None
            target = self.assets[idle[int(pick * len(idle))]]
            self.busy.add(target.asset_id)
            return target

    def release(self, asset_id: str) -> None:
        with self.lock:
            self.busy.discard(asset_id)


@dataclass(slots=True)
class Counts:
    outcomes: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    kills_after_body: int = 0
    lives: int = 0
    unsent: int = 0
    adopted_uploads: int = 0
    adopted_versions: int = 0
    adopted_edits: int = 0
    cleanup: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lives": self.lives,
            "kills": self.kills,
            "kills_after_a_whole_body": self.kills_after_body,
            "outcomes": dict(sorted(self.outcomes.items())),
            "unsent_then_resent": self.unsent,
            "committed_but_answer_lost": {
                "uploads": self.adopted_uploads,
                "versions": self.adopted_versions,
                "edits": self.adopted_edits,
            },
            "cleanup_removed": dict(sorted(self.cleanup.items())),
            "checked": dict(sorted(self.checks.items())),
            "server_errors": self.server_errors,
        }


# --- one life of the server --------------------------------------------------------------------


class Life:
    """Sends operations from client threads until this life's share of the plan has started,
    then kills the server ``kill_delay`` seconds after the last one started (``None``: no
    kill, the life ends when every operation has been answered)."""

    def __init__(
        self, harness: Harness, server: ServerProcess, operations: list[Operation]
    ) -> None:
        self.harness = harness
        self.server = server
        self.pending: queue.SimpleQueue[Operation] = queue.SimpleQueue()
        for operation in operations:
            self.pending.put(operation)
        self.total = len(operations)
        self.started = 0
        self.all_started = threading.Event()
        self.last_body_sent = threading.Event()
        self.killed = threading.Event()
        self.unsent: list[Operation] = []
        self.failures: list[BaseException] = []
        self.lock = threading.Lock()

    def run(self, clients: int, kill: KillPoint | None) -> list[Operation]:
        """Runs the life to its end; returns the operations that never reached the server."""
        threads = [
            threading.Thread(target=self._client, name=f"client-{n}", daemon=True)
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        if kill is not None:
            if not self.all_started.wait(timeout=REQUEST_TIMEOUT * 4):
                raise TimeoutError("the life's operations did not all start")
            if kill.after_body and not self.last_body_sent.wait(timeout=REQUEST_TIMEOUT):
                raise TimeoutError("the life's last request body was not sent")
            time.sleep(kill.delay)  # the seeded kill moment, not a wait for anything
            self.killed.set()
            self.server.kill()
            self.harness.counts.kills += 1
            self.harness.counts.kills_after_body += kill.after_body
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT * 4)
            if thread.is_alive():
                raise TimeoutError(f"{thread.name} did not finish")
        if self.failures:
            raise self.failures[0]
        leftover = []
        while True:
            try:
                leftover.append(self.pending.get_nowait())
            except queue.Empty:
                break
        return sorted(self.unsent + leftover, key=lambda op: op.number)

    def _client(self) -> None:
        token = mint_token(customer=CUSTOMER, roles=("editor",), ttl=3600)
        try:
            with httpx.Client(
                base_url=self.server.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=REQUEST_TIMEOUT,
            ) as client:
                while not self.killed.is_set():
                    try:
                        operation = self.pending.get_nowait()
                    except queue.Empty:
                        return
                    with self.lock:
                        self.started += 1
                        last = self.started == self.total
                    on_sent = self.last_body_sent.set if last else _nothing
                    if last:
                        self.all_started.set()
                    try:
                        self.harness.perform(client, operation, on_sent)
                    except httpx.ConnectError:
                        with self.lock:  # the server was already gone: the next life sends it
                            self.unsent.append(operation)
        except BaseException as failure:  # handed to run(): a thread's exception is lost
            with self.lock:
                self.failures.append(failure)
            self.all_started.set()
            self.last_body_sent.set()


def _nothing() -> None:
    pass


# --- the harness -------------------------------------------------------------------------------


class Harness:
    def __init__(self, data_dir: Path, seed: int, clients: int) -> None:
        self.data_dir = data_dir
        self.seed = seed
        self.clients = clients
        self.env = server_env(data_dir, max_versions=100_000)
        self.cleanup_env = server_env(data_dir, max_versions=100_000, temp_ttl=0)
        self.model = Model()
        self.counts = Counts()

    # --- operations (client threads) ----------------------------------------------------

    def perform(
        self, client: httpx.Client, operation: Operation, on_sent: Callable[[], None]
    ) -> None:
        kind = operation.kind
        target = self.model.take_target(operation.pick) if kind != "upload" else None
        if target is None:
            kind = "upload"  # nothing to change yet
        try:
            match kind:
                case "upload":
                    outcome = self._upload(client, operation, on_sent)
                case "version":
                    assert target is not None
                    outcome = self._new_version(client, operation, target, on_sent)
                case _:
                    assert target is not None
                    outcome = self._edit(client, operation, target, on_sent)
        finally:
            if target is not None:
                self.model.release(target.asset_id)
        with self.model.lock:
            self.counts.outcomes[f"{kind} {outcome}"] += 1

    def _send(self, request: Any) -> httpx.Response | None:
        """The answer, or None when the kill cut the exchange after the request went out."""
        try:
            response = request()
        except httpx.ConnectError:
            raise
        except httpx.TransportError:
            return None
        if response.status_code >= 500:
            with self.model.lock:
                self.counts.server_errors.append(f"{response.status_code} {response.text[:300]}")
        return response

    def _upload(
        self, client: httpx.Client, operation: Operation, on_sent: Callable[[], None]
    ) -> str:
        content = operation.content(self.seed, operation.image)
        label = label_of(f"upload {operation.number}", ["crash", f"op-{operation.number}"])
        content_type, body = form_body(
            {"title": label[0] or "", "tags": ",".join(label[1])},
            operation.filename(operation.image),
            content,
        )
        response = self._send(
            lambda: client.post(
                "/api/assets/upload",
                content=streamed(body, on_sent),
                headers={"Content-Type": content_type, "Content-Length": str(len(body))},
            )
        )
        checksum = sha256(content)
        if response is None:
            with self.model.lock:
                self.model.cut_uploads[checksum] = (label, operation.image)
            return "cut"
        if response.status_code != 201:
            return str(response.status_code)
        record = response.json()
        if record["checksum"] != checksum or record["size"] != len(content):
            raise InvariantBroken(f"op {operation.number}: 201 with another checksum: {record}")
        with self.model.lock:
            self.model.assets[record["asset_id"]] = KnownAsset(
                record["asset_id"], operation.image, {1: checksum}, {label}
            )
        return "201"

    def _new_version(
        self,
        client: httpx.Client,
        operation: Operation,
        target: KnownAsset,
        on_sent: Callable[[], None],
    ) -> str:
        content = operation.content(self.seed, target.image)
        content_type, body = form_body({}, operation.filename(target.image), content)
        response = self._send(
            lambda: client.post(
                f"/api/assets/{target.asset_id}/versions",
                content=streamed(body, on_sent),
                headers={"Content-Type": content_type, "Content-Length": str(len(body))},
            )
        )
        checksum = sha256(content)
        if response is None:
            target.cut_versions.append(checksum)
            return "cut"
        if response.status_code != 201:
            return str(response.status_code)
        record = response.json()
        number = record["current_version"]
        if record["checksum"] != checksum or number in target.versions:
            raise InvariantBroken(f"op {operation.number}: version answer {record}")
        target.versions[number] = checksum
        return "201"

    def _edit(
        self,
        client: httpx.Client,
        operation: Operation,
        target: KnownAsset,
        on_sent: Callable[[], None],
    ) -> str:
        label = label_of(f"edit {operation.number}", ["crash", "edited", f"op-{operation.number}"])
        body = json.dumps({"title": label[0], "tags": list(label[1])}).encode()
        response = self._send(
            lambda: client.put(
                f"/api/assets/{target.asset_id}",
                content=streamed(body, on_sent),
                headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
            )
        )
        if response is None:
            target.labels.add(label)
            return "cut"
        if response.status_code != 200:
            return str(response.status_code)
        record = response.json()
        if label_of(record["metadata"]["title"], record["metadata"]["tags"]) != label:
            raise InvariantBroken(f"op {operation.number}: edit answer {record}")
        target.labels = {label}
        return "200"

    # --- lives ------------------------------------------------------------------------------

    def run(self, operations: int, deadline: float) -> Counts:
        plan = make_plan(self.seed, operations)
        lives = make_lives(self.seed, operations)
        backlog: list[Operation] = []
        for share, kill in lives:
            if time.monotonic() > deadline:
                raise TimeoutError("the harness ran out of time")
            batch, plan = backlog + plan[:share], plan[share:]
            with ServerProcess(self.env) as server:
                self._recover_and_check(server)
                backlog = Life(self, server, batch).run(self.clients, kill)
                self.counts.unsent += len(backlog)
        while backlog:  # what the last kill left unsent: a life that ends without a kill
            if time.monotonic() > deadline:
                raise TimeoutError("the harness ran out of time")
            with ServerProcess(self.env) as server:
                self._recover_and_check(server)
                backlog = Life(self, server, backlog).run(self.clients, kill=None)
        with ServerProcess(self.env) as server:
            self._recover_and_check(server, download_all=True)
            server.terminate()
            if server.wait(30) != 0:
                raise InvariantBroken(f"SIGTERM exit status {server.poll()}")
        return self.counts

    # --- recovery and the invariant --------------------------------------------------------

    def _recover_and_check(self, server: ServerProcess, *, download_all: bool = False) -> None:
        self.counts.lives += 1
        report = run_cleanup_once(self.cleanup_env)
        if report["errors"]:
            raise InvariantBroken(f"cleanup errors: {report['errors']}")
        for name in ("temp_removed", "incomplete_removed", "orphans_removed", "uploads_expired"):
            self.counts.cleanup[name] += report[name]
        try:
            self._check_disk()
            self._check_api(server, download_all=download_all)
        except InvariantBroken as broken:
            raise InvariantBroken(
                f"life {self.counts.lives}: {broken}\n--- server log (tail) ---\n"
                + server.log_text()[-4000:]
            ) from None

    def _check_disk(self) -> None:
        model, counts = self.model, self.counts
        leftovers = temp_and_partial_files(self.data_dir)
        if leftovers:
            raise InvariantBroken(f"left in the temp area after cleanup: {leftovers}")
        blobs = asset_blobs(self.data_dir)
        referenced: set[tuple[str, str]] = set()
        records = catalog_assets(self.data_dir, CUSTOMER)
        for record in records:
            numbers = [v.version for v in record.versions]
            if numbers != list(range(1, len(numbers) + 1)) or record.current_version != numbers[-1]:
                raise InvariantBroken(
                    f"{record.asset_id}: versions {numbers}, current {record.current_version}"
                )
            for version in record.versions:
                where = (record.storage.bucket, version.storage_key)
                referenced.add(where)
                if where not in blobs:
                    raise InvariantBroken(f"{record.asset_id} v{version.version}: no blob")
                content = blobs[where].read_bytes()
                if len(content) != version.size or sha256(content) != version.checksum:
                    raise InvariantBroken(f"{record.asset_id} v{version.version}: blob differs")
                counts.checks["blobs hashed"] += 1
            if record.checksum != record.versions[-1].checksum:
                raise InvariantBroken(f"{record.asset_id}: current checksum is not the last's")
            self._reconcile(record)
        counts.checks["records"] = len(records)
        missing = set(model.assets) - {r.asset_id for r in records}
        if missing:
            raise InvariantBroken(f"acknowledged but gone: {sorted(missing)}")
        orphans = set(blobs) - referenced
        if orphans:
            raise InvariantBroken(f"blobs no version points to: {sorted(orphans)}")
        model.cut_uploads.clear()  # a cut upload not there now never will be

    def _reconcile(self, record: Any) -> None:
        """Match one record against the model; adopt what cut requests committed."""
        model, counts = self.model, self.counts
        label = label_of(record.metadata.title, record.metadata.tags)
        known = model.assets.get(record.asset_id)
        if known is None:
            adopted = model.cut_uploads.pop(record.versions[0].checksum, None)
            if adopted is None or label != adopted[0]:
                raise InvariantBroken(f"a record nobody created: {record.asset_id} {label}")
            known = KnownAsset(
                record.asset_id, adopted[1], {1: record.versions[0].checksum}, {label}
            )
            model.assets[record.asset_id] = known
            counts.adopted_uploads += 1
        for version in record.versions:
            expected = known.versions.get(version.version)
            if expected is None:
                if version.checksum not in known.cut_versions:
                    raise InvariantBroken(
                        f"{record.asset_id} v{version.version}: a version nobody added"
                    )
                known.cut_versions.remove(version.checksum)
                known.versions[version.version] = version.checksum
                counts.adopted_versions += 1
            elif expected != version.checksum:
                raise InvariantBroken(f"{record.asset_id} v{version.version}: another checksum")
        missing = set(known.versions) - {v.version for v in record.versions}
        if missing:
            raise InvariantBroken(f"{record.asset_id}: acknowledged versions gone: {missing}")
        known.cut_versions.clear()
        if label not in known.labels:
            raise InvariantBroken(f"{record.asset_id}: shows {label}, expected {known.labels}")
        if len(known.labels) > 1 and label[0].startswith("edit"):
            counts.adopted_edits += 1
        known.labels = {label}

    def _check_api(self, server: ServerProcess, *, download_all: bool) -> None:
        token = mint_token(customer=CUSTOMER, roles=("viewer",), ttl=3600)
        with httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT,
        ) as client:
            listed: set[str] = set()
            cursor: str | None = None
            while True:
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/assets/search", params=params)
                if page.status_code != 200:
                    raise InvariantBroken(f"search: {page.status_code} {page.text}")
                body = page.json()
                listed |= {item["asset_id"] for item in body["items"]}
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            if listed != set(self.model.assets):
                raise InvariantBroken(
                    f"search lists {len(listed)} assets, the catalog has {len(self.model.assets)}"
                )
            for known in self.model.assets.values():
                record = client.get(f"/api/assets/{known.asset_id}")
                if record.status_code != 200:
                    raise InvariantBroken(f"GET {known.asset_id}: {record.status_code}")
                current = max(known.versions)
                if record.json()["checksum"] != known.versions[current]:
                    raise InvariantBroken(f"GET {known.asset_id}: another checksum")
                self.counts.checks["records read"] += 1
                for number, checksum in sorted(known.versions.items()):
                    if number in known.downloaded and not download_all:
                        continue
                    got = client.get(
                        f"/api/assets/{known.asset_id}/download", params={"version": number}
                    )
                    if got.status_code != 200 or sha256(got.content) != checksum:
                        raise InvariantBroken(
                            f"download {known.asset_id} v{number}: {got.status_code}"
                        )
                    known.downloaded.add(number)
                    self.counts.checks["versions downloaded"] += 1


def run_harness(
    *, operations: int, seed: int, clients: int, data_dir: Path, max_seconds: float
) -> dict[str, Any]:
    started = time.monotonic()
    harness = Harness(data_dir, seed, clients)
    counts = harness.run(operations, started + max_seconds)
    return {
        "seed": seed,
        "operations": operations,
        "clients": clients,
        "seconds": round(time.monotonic() - started, 1),
        "assets": len(harness.model.assets),
        "versions": sum(len(a.versions) for a in harness.model.assets.values()),
        **counts.as_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=100, help="operations in each run's plan")
    parser.add_argument("--seed", type=int, default=20261203, help="the first run's seed")
    parser.add_argument("--runs", type=int, default=1, help="runs, with seeds seed, seed+1, …")
    parser.add_argument("--clients", type=int, default=3, help="concurrent client threads")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="each run's bound")
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    reports = []
    for seed in range(args.seed, args.seed + args.runs):
        with tempfile.TemporaryDirectory(prefix="crash-harness-") as scratch:
            try:
                report = run_harness(
                    operations=args.ops,
                    seed=seed,
                    clients=args.clients,
                    data_dir=Path(scratch) / "data",
                    max_seconds=args.max_seconds,
                )
            except (InvariantBroken, TimeoutError) as failure:
                print(
                    f"FAILED (seed {seed}; replay with --seed {seed}): {failure}", file=sys.stderr
                )
                return 1
        print(json.dumps(report, indent=2), flush=True)
        reports.append(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
    totals: Counter[str] = Counter()
    for report in reports:
        totals.update(report["outcomes"])
        totals["kills"] += report["kills"]
        for name, value in report["committed_but_answer_lost"].items():
            totals[f"{name} committed, answer lost"] += value
    print(
        f"{len(reports)} run(s) passed: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
    )
    return 1 if any(report["server_errors"] for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
