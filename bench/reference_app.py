"""The FastAPI reference: the usual way to serve and receive files with FastAPI + uvicorn.

    BENCH_REF_FILES=dir BENCH_REF_STORE=dir python -m uvicorn bench.reference_app:app

- ``GET /files/{name}``: ``FileResponse`` (Starlette handles Range and If-Range itself);
- ``POST /upload``: one ``UploadFile`` (Starlette parses the multipart body with
  python-multipart into a ``SpooledTemporaryFile``), then stored as the service stores an
  upload: copied to its final file in a worker thread with its sha256, and fsynced;
- ``GET /healthz``.

No auth, no catalog: the reference does less than the service on every request.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

FILES = Path(os.environ.get("BENCH_REF_FILES", "."))
STORE = Path(os.environ.get("BENCH_REF_STORE", "."))
CHUNK = 1024 * 1024

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/files/{name}")
async def download(name: str) -> FileResponse:
    if "/" in name or name.startswith("."):
        raise HTTPException(404)
    path = FILES / name
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type="application/octet-stream")


def _store(source: BinaryIO, destination: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    source.seek(0)
    with destination.open("wb") as out:
        while block := source.read(CHUNK):
            digest.update(block)
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


@app.post("/upload", status_code=201)
async def upload(file: UploadFile) -> dict[str, Any]:
    destination = STORE / uuid.uuid4().hex
    size, checksum = await run_in_threadpool(_store, file.file, destination)
    return {"name": file.filename, "size": size, "checksum": checksum, "id": destination.name}


@app.delete("/upload/{name}", status_code=204)
async def remove(name: str) -> None:
    if "/" in name or name.startswith("."):
        raise HTTPException(404)
    (STORE / name).unlink(missing_ok=True)
