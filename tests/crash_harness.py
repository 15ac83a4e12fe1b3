"""Crash harness (issues 8, 15): the real server as a subprocess, a seeded plan of uploads, tus
uploads, new versions and metadata edits sent by a few concurrent clients, and SIGKILLs at
seeded moments.

Each *life* of the server: start it on the same data dir (and blob store); finish the tus
uploads a kill cut (``HEAD``, then the missing bytes or the last ``PATCH`` again — a commit the
kill cut is taken over once its lease lapses, ≤ 10 s); run one
``cleanup --once`` pass with a zero temp TTL (the restarted server is idle, so whatever is in the
temp area is a crash's leftover); check the invariant; send the next few operations of the plan
(2 to 8) from ``--clients`` threads; SIGKILL the server at the life's seeded kill point — 0 to
250 ms after its last operation started sending (mid-body, mostly) or 0 to 30 ms after that
operation's last byte went out (inside the commit or the answer). Operations a kill cut are not
retried; operations never sent go to the next life. After the last operation one more life
checks everything, downloads every version and stops the server with SIGTERM (exit 0).

The invariant, checked after every restart and cleanup pass (``crash_model.Checker``):

- every operation the API acknowledged is there: an upload's record with its sha256, a new
  version under its number with its sha256, an edit's title and tags (or those of a later edit
  to the same asset whose answer was lost);
- nothing half-written: each version of each record has a blob of the recorded size and sha256,
  numbered 1, 2, 3… with the current one last; a record or a version nobody was told about must
  come from a request the kill cut, with exactly the bytes it sent (its commit finished, its
  answer did not get out) — it is then adopted and counted;
- one upload, at most one asset: a tus upload finished after a kill names the asset its cut commit
  made, if it made one, and no record appears that no upload or tus upload accounts for;
- nothing left: no temp blob, no partial write or unfinished multipart upload, no blob that no
  version points to;
- through the API: every record reads with its checksum, every version added since the last
  check downloads with its sha256, and search lists exactly the records there are.

``--seed`` fixes the plan (``crash_plan``): each operation's kind, size, content and target,
how many operations each life gets, and each kill point. Where a kill lands inside the server
still depends on timing, so a replay hits the same windows approximately, not byte for byte.

Usage: ``python tests/crash_harness.py [--ops 100] [--seed N] [--runs 1] [--clients 3]
[--blob-store file|s3] [--json FILE]``; ``make crash`` runs 3 plans of 100 operations per store;
``tests/test_crash_harness.py`` runs shorter plans inside ``make test``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from blob_views import FilesystemBlobs, S3Blobs
from crash_model import (
    REQUEST_TIMEOUT,
    Checker,
    Counts,
    InvariantBroken,
    KnownAsset,
    Model,
    OpenTus,
    label_of,
)
from crash_plan import KillPoint, Operation, form_body, make_lives, make_plan, streamed
from server_process import (
    ServerProcess,
    mint_token,
    run_cleanup_once,
    server_env,
    sha256,
)

CUSTOMER = "crash-harness"
#: the 409 a new version gets while a killed server's version reservation runs out
RESERVED = "another instance is changing this asset's versions"
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
#: how long a cut tus upload may take to finish: a dead commit's lease (10 s), then the commit
TUS_FINISH_WITHIN = 45.0


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


def tus_metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


# --- the harness -------------------------------------------------------------------------------


class Harness:
    def __init__(self, data_dir: Path, seed: int, clients: int, s3_url: str = "") -> None:
        self.data_dir = data_dir
        self.seed = seed
        self.clients = clients
        store = {"blob_store": s3_url} if s3_url else {}
        # Previews off: a thumbnail being written while the store is checked is a partial
        # write in a type bucket the checks can't tell from a content blob's (previews have a
        # crash test of their own, tests/test_preview_recovery.py).
        self.env = server_env(data_dir, max_versions=100_000, previews="off", **store)
        self.cleanup_env = server_env(
            data_dir, max_versions=100_000, temp_ttl=0, previews="off", **store
        )
        self.model = Model(CUSTOMER)
        self.counts = Counts()
        blobs = S3Blobs(s3_url) if s3_url else FilesystemBlobs(data_dir)
        self.checker = Checker(self.model, self.counts, blobs, data_dir)

    # --- operations (client threads) ----------------------------------------------------

    def perform(
        self, client: httpx.Client, operation: Operation, on_sent: Callable[[], None]
    ) -> None:
        kind = operation.kind
        changes = kind not in ("upload", "tus")
        target = self.model.take_target(operation.pick) if changes else None
        if changes and target is None:
            kind = "upload"  # nothing to change yet
        try:
            match kind:
                case "upload":
                    outcome = self._upload(client, operation, on_sent)
                case "tus":
                    outcome = self._tus(client, operation, on_sent)
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

    def _send(
        self,
        client: httpx.Client,
        method: str,
        path: str,
        content_type: str,
        body: bytes,
        on_sent: Callable[[], None],
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """The answer, or None when the kill cut the exchange after the request went out
        (``httpx.ConnectError`` when it never did). The body goes out in pieces, so that
        ``on_sent`` runs once its last byte is written."""
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            **(extra_headers or {}),
        }
        try:
            response = client.request(
                method, path, content=streamed(body, on_sent), headers=headers
            )
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
        response = self._send(client, "POST", "/api/assets/upload", content_type, body, on_sent)
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
                record["asset_id"], operation.image, {1: checksum}, label
            )
        return "201"

    def _tus(self, client: httpx.Client, operation: Operation, on_sent: Callable[[], None]) -> str:
        """A tus upload in two PATCHes; ``on_sent`` after the last one's body (a kill then
        lands in its commit). A cut leaves it open in the model, for the next life."""
        content = operation.content(self.seed, operation.image)
        label = label_of(f"tus {operation.number}", ["crash", "tus", f"op-{operation.number}"])
        created = self._send(
            client,
            "POST",
            "/api/uploads/",
            "application/octet-stream",
            b"",
            _nothing,
            {
                **TUS,
                "Upload-Length": str(len(content)),
                "Upload-Metadata": tus_metadata(
                    filename=operation.filename(operation.image),
                    title=label[0] or "",
                    tags=",".join(label[1]),
                ),
            },
        )
        if created is None:
            return "cut"  # a session without bytes, if any: it expires unseen
        if created.status_code != 201:
            return str(created.status_code)
        url = created.headers["Location"]
        upload = OpenTus(url, content, label, operation.image)
        with self.model.lock:
            self.model.open_tus[url] = upload
        half = len(content) // 2
        answer = None
        for offset, piece, sent in ((0, content[:half], _nothing), (half, content[half:], on_sent)):
            try:
                answer = self._send(
                    client,
                    "PATCH",
                    url,
                    OFFSET_STREAM,
                    piece,
                    sent,
                    {**TUS, "Upload-Offset": str(offset)},
                )
            except httpx.ConnectError:
                return "cut"  # the session exists: the next life finishes it
            if answer is None:
                return "cut"
            if answer.status_code != 204:
                return str(answer.status_code)
        assert answer is not None
        self._tus_committed(upload, answer.headers.get("Asset-Id"), resumed=False)
        return "204"

    def _tus_committed(self, upload: OpenTus, asset_id: str | None, *, resumed: bool) -> None:
        checksum = sha256(upload.content)
        with self.model.lock:
            if asset_id is None:
                raise InvariantBroken(f"{upload.url}: complete, but no Asset-Id")
            if asset_id in self.model.assets:
                raise InvariantBroken(f"{upload.url}: answered with another upload's asset")
            self.model.open_tus.pop(upload.url, None)
            self.model.assets[asset_id] = KnownAsset(
                asset_id, upload.image, {1: checksum}, upload.label
            )
            self.counts.tus_resumed += resumed

    def _finish_open_tus(self, server: ServerProcess) -> None:
        """Finish every tus upload a kill cut, as a client resuming would: where ``HEAD``
        says, the missing bytes; when they are all there, the last ``PATCH`` again (the upload
        was never committed, or its commit's instance died: a takeover once the lease lapsed,
        answered with the asset the dead commit made if it made one). Parts a commit left (its
        instance died after its record, before its tidy-up) are the cleanup pass's, next."""
        token = mint_token(customer=CUSTOMER, roles=("editor",), ttl=3600)
        with httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {token}", **TUS},
            timeout=REQUEST_TIMEOUT,
        ) as client:
            for upload in list(self.model.open_tus.values()):
                self._finish_tus(client, upload)

    def _finish_tus(self, client: httpx.Client, upload: OpenTus) -> None:
        deadline = time.monotonic() + TUS_FINISH_WITHIN
        size = len(upload.content)
        first_look = True
        while time.monotonic() < deadline:
            looked = client.head(upload.url)
            if looked.status_code != 200:
                raise InvariantBroken(f"HEAD {upload.url}: {looked.status_code}")
            offset = int(looked.headers["Upload-Offset"])
            if offset == size and first_look:
                self.counts.tus_complete_when_cut += 1  # the kill cut its commit, or its answer
            first_look = False
            answer = client.patch(
                upload.url,
                headers={"Content-Type": OFFSET_STREAM, "Upload-Offset": str(offset)},
                content=upload.content[offset:],
            )
            if answer.status_code == 204 and offset + len(upload.content[offset:]) == size:
                self._tus_committed(upload, answer.headers.get("Asset-Id"), resumed=True)
                return
            if answer.status_code not in (204, 409):
                raise InvariantBroken(f"PATCH {upload.url}: {answer.status_code} {answer.text}")
            time.sleep(0.2)  # a dead commit's lease is running out
        raise InvariantBroken(f"{upload.url}: not finished within {TUS_FINISH_WITHIN} s")

    def _new_version(
        self,
        client: httpx.Client,
        operation: Operation,
        target: KnownAsset,
        on_sent: Callable[[], None],
    ) -> str:
        content = operation.content(self.seed, target.image)
        content_type, body = form_body({}, operation.filename(target.image), content)
        path = f"/api/assets/{target.asset_id}/versions"
        response = self._send(client, "POST", path, content_type, body, on_sent)
        checksum = sha256(content)
        if response is None:
            target.cut_versions.append(checksum)
            return "cut"
        if response.status_code == 409 and RESERVED in response.text:
            return "409 reserved"  # a killed server held this asset's version reservation
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
        path = f"/api/assets/{target.asset_id}"
        response = self._send(client, "PUT", path, "application/json", body, on_sent)
        if response is None:
            target.cut_labels.append(label)
            return "cut"
        if response.status_code != 200:
            return str(response.status_code)
        record = response.json()
        if label_of(record["metadata"]["title"], record["metadata"]["tags"]) != label:
            raise InvariantBroken(f"op {operation.number}: edit answer {record}")
        target.label = label
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
        self._finish_open_tus(server)
        report = run_cleanup_once(self.cleanup_env)
        if report["errors"]:
            raise InvariantBroken(f"cleanup errors: {report['errors']}")
        for name in ("temp_removed", "incomplete_removed", "orphans_removed", "uploads_expired"):
            self.counts.cleanup[name] += report[name]
        try:
            self.checker.check_store()
            self.checker.check_api(server.base_url, download_all=download_all)
        except InvariantBroken as broken:
            raise InvariantBroken(
                f"life {self.counts.lives}: {broken}\n--- server log (tail) ---\n"
                + server.log_text()[-4000:]
            ) from None


def run_harness(
    *,
    operations: int,
    seed: int,
    clients: int,
    data_dir: Path,
    max_seconds: float,
    s3_url: str = "",
) -> dict[str, Any]:
    """One run; ``s3_url``: the blob store (else the filesystem store under ``data_dir``)."""
    started = time.monotonic()
    harness = Harness(data_dir, seed, clients, s3_url)
    counts = harness.run(operations, started + max_seconds)
    return {
        "seed": seed,
        "blob_store": "s3" if s3_url else "file",
        "operations": operations,
        "clients": clients,
        "seconds": round(time.monotonic() - started, 1),
        "assets": len(harness.model.assets),
        "versions": sum(len(a.versions) for a in harness.model.assets.values()),
        **counts.as_dict(),
    }


def one_run(args: argparse.Namespace, seed: int, scratch: Path, moto_url: str) -> dict[str, Any]:
    s3_url = ""
    if moto_url:
        from backends import drop_buckets, moto_s3_url, new_bucket_prefix

        s3_url = moto_s3_url(moto_url, new_bucket_prefix())
    try:
        return run_harness(
            operations=args.ops,
            seed=seed,
            clients=args.clients,
            data_dir=scratch / "data",
            max_seconds=args.max_seconds,
            s3_url=s3_url,
        )
    finally:
        if s3_url:
            drop_buckets(s3_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=100, help="operations in each run's plan")
    parser.add_argument("--seed", type=int, default=20261203, help="the first run's seed")
    parser.add_argument("--runs", type=int, default=1, help="runs, with seeds seed, seed+1, …")
    parser.add_argument("--clients", type=int, default=3, help="concurrent client threads")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="each run's bound")
    parser.add_argument(
        "--blob-store",
        choices=("file", "s3"),
        default="file",
        help="s3: a moto_server started here (or ASSET_TEST_MOTO_URL), a bucket prefix per run",
    )
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    reports = []
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-harness-")))
        moto_url = ""
        if args.blob_store == "s3":
            from backends import running_moto

            moto_url = stack.enter_context(running_moto(scratch))
        for seed in range(args.seed, args.seed + args.runs):
            try:
                report = one_run(args, seed, scratch / f"run-{seed}", moto_url)
            except (InvariantBroken, TimeoutError) as failure:
                print(f"FAILED (seed {seed}; replay: --seed {seed}): {failure}", file=sys.stderr)
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
    summary = ", ".join(f"{name} {count}" for name, count in sorted(totals.items()))
    print(f"{len(reports)} run(s) passed ({args.blob_store} store): {summary}")
    return 1 if any(report["server_errors"] for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
