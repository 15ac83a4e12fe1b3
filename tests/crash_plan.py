"""The crash harness's plan (``tests/crash_harness.py``): which operations, with what bytes,
how many per life of the server and where each life is killed — all from one seed — and the
request bodies, sent in pieces so that the harness knows when the last byte went out."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from server_process import png_bytes, text_bytes

KINDS = ("upload", "version", "edit", "tus")
KIND_WEIGHTS = (0.35, 0.25, 0.20, 0.20)
MIN_SIZE, MAX_SIZE = 512, 12 * 1024 * 1024
#: operations per life, and how long after the life's last operation started it is killed
LIFE_OPS = (2, 8)
MAX_KILL_DELAY = 0.25
MAX_COMMIT_DELAY = 0.03


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
