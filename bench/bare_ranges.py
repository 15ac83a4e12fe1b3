"""The floor of this stack for ranged reads: a bare ASGI app on Hypercorn's Trio worker, no
framework, that answers ``GET /files/{name}`` with the ``Range`` asked for, read with ``pread``
in a worker thread (as the service reads blobs). ``bench/workers.py`` runs it next to the
service.

    BENCH_REF_FILES=dir hypercorn -k trio -w N -b 127.0.0.1:PORT bench.bare_ranges:app
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import trio

FILES = Path(os.environ.get("BENCH_REF_FILES", "."))
CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/healthz":
        await _answer(send, 200, [], b"ok")
        return
    name = path.removeprefix("/files/")
    if "/" in name or name.startswith(".") or not (FILES / name).is_file():
        await _answer(send, 404, [], b"")
        return
    file = FILES / name
    size = file.stat().st_size
    header = dict(scope["headers"]).get(b"range", b"").decode()
    match = _RANGE.fullmatch(header)
    start, end = (int(match[1]), min(int(match[2]), size - 1)) if match else (0, size - 1)
    status = 206 if match else 200
    headers = [(b"content-length", str(end - start + 1).encode())]
    if match:
        headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    fd = await trio.to_thread.run_sync(os.open, file, os.O_RDONLY)
    try:
        position = start
        while position <= end:
            length = min(CHUNK, end - position + 1)
            chunk = await trio.to_thread.run_sync(os.pread, fd, length, position)
            position += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": position <= end})
    finally:
        os.close(fd)


async def _answer(send: Any, status: int, headers: list[Any], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
