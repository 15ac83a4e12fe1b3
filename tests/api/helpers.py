"""Plain helpers for the API tests: building multipart bodies by hand (so a test controls every
byte — duplicate fields, two file parts, truncation) and checking problem documents."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import httpx

from asset_service.http import signing
from tests.media import tiny_png

BOUNDARY = "test-boundary-7d1c3a9e"
PROBLEM_JSON = "application/problem+json"
#: a real 4x3 PNG (the image plugin decodes what it is given: a bare signature is refused)
PNG_BYTES = tiny_png()
TEXT_BYTES = b"".join(b"line %04d of a plain text file\n" % n for n in range(40))


@dataclass(frozen=True)
class Part:
    name: str
    value: bytes | str
    filename: str | None = None
    content_type: str | None = None
    #: a raw Content-Disposition header value, overriding the one built from name/filename
    disposition: str | None = None


def file_part(
    content: bytes = TEXT_BYTES, filename: str = "notes.txt", content_type: str | None = None
) -> Part:
    return Part("file", content, filename=filename, content_type=content_type)


def fields(**values: str) -> list[Part]:
    return [Part(name, value) for name, value in values.items()]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def encode_part(part: Part, boundary: str = BOUNDARY) -> bytes:
    disposition = part.disposition or f'form-data; name="{_quote(part.name)}"' + (
        f'; filename="{_quote(part.filename)}"' if part.filename is not None else ""
    )
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if part.content_type is not None:
        head += f"Content-Type: {part.content_type}\r\n"
    value = part.value.encode() if isinstance(part.value, str) else part.value
    return head.encode() + b"\r\n" + value + b"\r\n"


def multipart(parts: Iterable[Part], boundary: str = BOUNDARY, *, close: bool = True) -> bytes:
    """A multipart/form-data body; ``close=False`` leaves out the closing boundary."""
    body = b"".join(encode_part(part, boundary) for part in parts)
    return body + (f"--{boundary}--\r\n".encode() if close else b"")


def multipart_type(boundary: str = BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary}"


async def chunked(body: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """Given to httpx as ``content``, the body goes out chunked, without Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_problem(response: httpx.Response, status: int) -> dict:
    """The response is an RFC 9457 problem document with this status; returns it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    problem = response.json()
    for key in ("type", "title", "status", "detail"):
        assert key in problem, problem
    assert problem["status"] == status
    assert isinstance(problem["type"], str) and problem["type"]
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    return problem


def signed_query(
    secret: str,
    asset_id: str,
    version: int | None,
    expires: int,
    *,
    epoch: int = 0,
    inline: bool = False,
    sign_version: int | None = None,
) -> str:
    """The query string of a download link signed with ``secret``, for any expiry (past ones
    included), as the service signs it. ``sign_version``: sign another version than named."""
    signer = signing.LinkSigner.from_secret(secret)
    signed = version if sign_version is None else sign_version
    grant = signing.Grant(
        "download", asset_id, signed, signing.download_subject(inline), expires, epoch
    )
    query = "" if version is None else f"version={version}&"
    query += "inline=1&" if inline else ""
    return f"{query}expires={expires}&epoch={epoch}&signature={signer.sign(grant)}"
