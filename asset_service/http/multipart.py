"""Streaming multipart/form-data: the request body is fed chunk by chunk to python-multipart's
push parser; the file part's bytes go to an upload session as they arrive (coalesced into
~1 MiB writes), text fields are kept in memory under small limits. Nothing is spooled by Quart
(``request.files`` would buffer the whole body on the event loop)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import trio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from asset_service.engine import UploadHandle
from asset_service.engine.errors import InvalidInput, PayloadTooLarge

from .problems import HTTPProblem

FILE_FIELD = "file"
WRITE_SIZE = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 50

#: called when the file part starts: (filename, part content type) -> an upload session
OpenUpload = Callable[[str, str | None], Awaitable[UploadHandle]]


@dataclass(slots=True)
class UploadForm:
    handle: UploadHandle
    fields: dict[str, str]
    file_content_type: str | None


@dataclass(slots=True)
class _Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[str, bytes] = field(default_factory=dict)
    value: bytearray = field(default_factory=bytearray)


def multipart_boundary(content_type: str | None) -> bytes:
    mime, params = parse_options_header(content_type or "")
    if mime != b"multipart/form-data":
        raise HTTPProblem(415, "Unsupported media type", "the body must be multipart/form-data")
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("the multipart/form-data content type has no boundary")
    if len(boundary) > 70:
        raise InvalidInput("the multipart boundary is longer than 70 characters")
    return boundary


async def _chunks_with_idle_timeout(
    body: AsyncIterator[bytes], idle_timeout: float
) -> AsyncIterator[bytes]:
    iterator = body.__aiter__()
    while True:
        with trio.move_on_after(idle_timeout) as scope:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
        if scope.cancelled_caught:
            raise HTTPProblem(408, "Request timeout", f"no body data for {idle_timeout:g} seconds")
        yield chunk


async def read_upload_form(
    body: AsyncIterator[bytes],
    content_type: str | None,
    open_upload: OpenUpload,
    *,
    max_body_bytes: int,
    idle_timeout: float,
    max_file_bytes: int | None = None,
) -> UploadForm:
    """Parse the whole body; the file part streams into the session ``open_upload`` gives.
    On any error the session is aborted (its temp blob removed) before the error propagates.
    A file over ``max_file_bytes`` is refused here, as its bytes arrive (413)."""
    boundary = multipart_boundary(content_type)
    events: list[tuple[str, object]] = []
    ended = False

    def on_end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": lambda: events.append(("begin", None)),
            "on_part_data": lambda d, s, e: events.append(("data", d[s:e])),
            "on_part_end": lambda: events.append(("end", None)),
            "on_header_field": lambda d, s, e: events.append(("hfield", d[s:e])),
            "on_header_value": lambda d, s, e: events.append(("hvalue", d[s:e])),
            "on_header_end": lambda: events.append(("hend", None)),
            "on_headers_finished": lambda: events.append(("hdone", None)),
            "on_end": on_end,
        },
    )
    fields: dict[str, str] = {}
    handle: UploadHandle | None = None
    file_content_type: str | None = None
    file_done = False
    # File bytes waiting to be written, kept as the parser's slices (a slice spanning a whole
    # body chunk is that chunk, not a copy) and joined once per ~1 MiB write.
    pending: list[bytes] = []
    pending_size = 0
    part = _Part()
    received = 0
    file_bytes = 0

    async def flush() -> None:
        nonlocal pending_size
        if pending and handle is not None:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            pending_size = 0
            await handle.write(data)

    try:
        async for chunk in _chunks_with_idle_timeout(body, idle_timeout):
            received += len(chunk)
            if received > max_body_bytes:
                raise PayloadTooLarge(f"the request body is larger than {max_body_bytes} bytes")
            try:
                parser.write(chunk)
            except MultipartParseError as error:
                raise InvalidInput(f"malformed multipart body: {error}") from None
            for kind, value in events:
                match kind:
                    case "begin":
                        part = _Part()
                    case "hfield":
                        if part.header_value:
                            _finish_header(part)
                        part.header_field += value  # type: ignore[operator]
                    case "hvalue":
                        part.header_value += value  # type: ignore[operator]
                    case "hend":
                        _finish_header(part)
                    case "hdone":
                        _describe_part(part)
                        if (part.name == FILE_FIELD) != (part.filename is not None):
                            raise InvalidInput(
                                "the file goes in a part named 'file' with a filename; "
                                f"the part {part.name!r} is not one"
                            )
                        if part.name == FILE_FIELD:
                            if handle is not None or file_done:
                                raise InvalidInput("send exactly one file part named 'file'")
                            file_content_type = part.content_type
                            handle = await open_upload(part.filename, part.content_type)
                        elif part.name in fields:
                            raise InvalidInput(f"the field {part.name!r} is sent twice")
                        elif len(fields) >= MAX_FIELDS:
                            raise InvalidInput(f"more than {MAX_FIELDS} form fields")
                    case "data":
                        if _is_file(part) and handle is not None and not file_done:
                            file_bytes += len(value)  # type: ignore[arg-type]
                            if max_file_bytes is not None and file_bytes > max_file_bytes:
                                raise PayloadTooLarge(
                                    f"the upload is larger than {max_file_bytes} bytes"
                                )
                            pending.append(value)  # type: ignore[arg-type]
                            pending_size += len(value)  # type: ignore[arg-type]
                            if pending_size >= WRITE_SIZE:
                                await flush()
                        else:
                            part.value.extend(value)  # type: ignore[arg-type]
                            if len(part.value) > MAX_FIELD_BYTES:
                                raise InvalidInput(
                                    f"the field {part.name!r} is longer than "
                                    f"{MAX_FIELD_BYTES} bytes"
                                )
                    case "end":
                        if _is_file(part) and handle is not None and not file_done:
                            await flush()
                            file_done = True
                        else:
                            fields[part.name or ""] = _decode_field(part)
            events.clear()
        if not ended:
            raise InvalidInput("the multipart body is truncated (no closing boundary)")
        if handle is None:
            raise InvalidInput("no file part: send the file in a part named 'file'")
        fields.pop("", None)
        return UploadForm(handle, fields, file_content_type)
    except BaseException:
        if handle is not None:
            await handle.aclose()
        raise


def _is_file(part: _Part) -> bool:
    return part.name == FILE_FIELD and part.filename is not None


def _finish_header(part: _Part) -> None:
    name = bytes(part.header_field).decode("latin-1").strip().lower()
    if len(part.headers) >= 16:
        raise InvalidInput("too many headers in a multipart part")
    part.headers[name] = bytes(part.header_value)
    part.header_field.clear()
    part.header_value.clear()


def _describe_part(part: _Part) -> None:
    disposition = part.headers.get("content-disposition")
    if disposition is None:
        raise InvalidInput("a multipart part has no Content-Disposition header")
    kind, params = parse_options_header(disposition)
    if kind != b"form-data" or b"name" not in params:
        raise InvalidInput("a multipart part's Content-Disposition must be form-data; name=…")
    part.name = _text(params[b"name"])
    extended = _extended_filename(disposition)
    if extended is not None:
        part.filename = extended
    elif b"filename" in params:
        part.filename = _text(params[b"filename"])
    content_type = part.headers.get("content-type")
    part.content_type = parse_options_header(content_type)[0].decode("latin-1") or None


_EXTENDED_FILENAME = re.compile(rb"""filename\*\s*=\s*([^;\s]+)""", re.IGNORECASE)


def _extended_filename(disposition: bytes) -> str | None:
    """RFC 5987 ``filename*=UTF-8''na%C3%AFve.txt``, which takes precedence over ``filename``
    (RFC 6266 §4.3) and which python-multipart's header parser drops."""
    match = _EXTENDED_FILENAME.search(disposition)
    if match is None:
        return None
    charset, quote_char, rest = match[1].decode("latin-1").partition("'")
    _, _, encoded = rest.partition("'")
    if not quote_char or charset.lower() not in ("utf-8", "iso-8859-1"):
        raise InvalidInput("filename* must be UTF-8''percent-encoded (RFC 5987)")
    try:
        return unquote(encoded, encoding=charset, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("filename* is not valid percent-encoded UTF-8") from None


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _decode_field(part: _Part) -> str:
    try:
        return bytes(part.value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the field {part.name!r} is not UTF-8 text") from None
