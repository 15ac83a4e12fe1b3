"""``/api/uploads/``: resumable uploads (tus 1.0.0 — core, creation, creation-with-upload,
creation-defer-length, termination, expiration, checksum with sha1 and sha256, concatenation)
and the progress of any upload. ``POST`` with ``X-HTTP-Method-Override: PATCH|DELETE`` is taken
as that method (tus's advice for clients behind proxies that know only GET and POST).

The protocol's headers are read and written here; sessions, parts and commits are the engine's
(``engine.tus``). ``HEAD /api/uploads/{id}`` is tus's offset request and ``GET`` the same
URL's JSON progress, which also answers for multipart uploads sent with ``X-Upload-Id``.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
from datetime import datetime

from quart import Blueprint, Response, request
from werkzeug.exceptions import MethodNotAllowed

from asset_service.engine import (
    CHECKSUM_ALGORITHMS,
    FINAL,
    AssetEngine,
    Checksum,
    NewAssetFields,
    NewUpload,
)
from asset_service.engine import fields as field_rules
from asset_service.engine.errors import Gone, InvalidInput
from asset_service.engine.model import UploadSession, UploadState

from ..context import caller, services
from ..multipart import _chunks_with_idle_timeout
from ..multipart_upload import UPLOAD_FIELDS, declared_type_of, new_asset_fields
from ..params import parse_decimal
from ..problems import HTTPProblem
from ..responses import json_response
from ..schema import Body, Header, Reply, header, operation, records, replies
from ..schema import parameters as param
from ..schema.bodies import FORM_FIELDS
from ..serialize import progress_json
from ..tus_concat import UploadConcat, parse_upload_concat, upload_concat_header

blueprint = Blueprint("uploads", __name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = (
    "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum,"
    "concatenation"
)
OFFSET_STREAM = "application/offset+octet-stream"
#: the response headers a browser client must be able to read (CORS ``Expose-Headers``)
TUS_RESPONSE_HEADERS = (
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Upload-Concat",
    "Asset-Id",
    "Location",
)
#: the request headers a tus client sends (CORS ``Allow-Headers``)
TUS_REQUEST_HEADERS = (
    "Tus-Resumable",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Concat",
)
MAX_METADATA = 16 * 1024


@blueprint.after_request
async def _tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    if request.method == "OPTIONS":
        response.headers["Tus-Version"] = TUS_VERSION
        response.headers["Tus-Extension"] = TUS_EXTENSIONS
        response.headers["Tus-Max-Size"] = str(services().settings.max_upload_bytes)
        response.headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
    return response


# --- the routes ------------------------------------------------------------------------------


@blueprint.post("/api/uploads/", strict_slashes=False)
@operation(
    "Uploads",
    "createUpload",
    "Start a resumable upload (tus creation)",
    responses={
        201: Reply(
            "created; with a body (creation-with-upload), the bytes received, and the asset if "
            "they were all of it",
            headers={**replies.UPLOAD_URL, **replies.TUS_STATE},
        )
    },
    problems=[400, 401, 403, 404, 408, 409, 412, 413, 415, 422, 429, 460, 503],
    description="tus 1.0.0 (core, creation, creation-with-upload, creation-defer-length, "
    "termination, expiration, checksum with sha1 and sha256), as tus-js-client, Uppy and tuspy "
    "speak it; `OPTIONS` on this URL answers `Tus-Version`, `Tus-Extension`, `Tus-Max-Size` (the "
    "upload limit) and `Tus-Checksum-Algorithm` without a token. Editors and admins. "
    "`Upload-Metadata` may carry "
    + ", ".join(f"`{key}`" for key in ("filename", "filetype", *FORM_FIELDS))
    + " (base64 values; other keys are ignored): the same fields as a multipart upload, `type` "
    "being the asset type or a MIME type. A creation request whose bytes fail leaves nothing.",
    parameters=[
        param.TUS_RESUMABLE,
        param.upload_length("the upload's size in bytes"),
        param.UPLOAD_DEFER_LENGTH,
        param.UPLOAD_METADATA,
        param.UPLOAD_CHECKSUM,
        header("Upload-Concat", "tus concatenation: `partial`, or `final;<upload URLs>`"),
    ],
    body=Body(bytes, OFFSET_STREAM, required=False),
)
async def create_upload() -> Response:
    """tus creation (and creation-with-upload, creation-defer-length)."""
    principal = caller()
    _require_tus()
    engine = services().engine
    concat = parse_upload_concat(request.headers.get("Upload-Concat"))
    if concat is not None and concat.kind == FINAL:
        return await _create_final(concat)
    length = _decimal_header("Upload-Length")
    deferred = request.headers.get("Upload-Defer-Length")
    if deferred is not None and deferred.strip() != "1":
        raise InvalidInput("Upload-Defer-Length must be 1")
    if (length is None) == (deferred is None):
        raise InvalidInput("send exactly one of Upload-Length and Upload-Defer-Length: 1")
    raw_metadata = request.headers.get("Upload-Metadata", "")
    fields, filename, declared_type = _asset_fields(parse_metadata(raw_metadata), engine)
    with_body = _has_body()
    if with_body and not _is_offset_stream():
        raise _unsupported_body()
    checksum = _checksum_header()
    session = await engine.create_upload_session(
        NewUpload(
            principal,
            length,
            fields,
            filename,
            declared_type,
            raw_metadata,
            concat=None if concat is None else concat.kind,
        )
    )
    headers = {"Location": f"/api/uploads/{session.upload_id}"}
    if with_body:
        try:
            session, _ = await engine.append_upload(
                principal,
                session.upload_id,
                0,
                _body(),
                content_length=request.content_length,
                checksum=checksum,
            )
        except BaseException:
            # The client has no URL to resume a failed creation at: leave nothing.
            await engine.discard_upload(session.upload_id)
            raise
        headers["Upload-Offset"] = str(session.offset)
    headers.update(_state_headers(session))
    response = Response("", status=201, headers=headers)
    del response.headers["Content-Type"]
    return response


async def _create_final(concat: UploadConcat) -> Response:
    """tus concatenation's final upload: its partials, committed as one asset — answered
    like the PATCH that completes an ordinary upload (``Asset-Id``, or the content's 4xx)."""
    for name in ("Upload-Length", "Upload-Defer-Length"):
        if name in request.headers:
            raise InvalidInput(f"a final upload takes no {name}: its length is its partials'")
    if _has_body():
        raise InvalidInput("a final upload takes no bytes: its partial uploads have them")
    engine = services().engine
    raw_metadata = request.headers.get("Upload-Metadata", "")
    fields, filename, declared_type = _asset_fields(parse_metadata(raw_metadata), engine)
    session, _ = await engine.concatenate_uploads(
        NewUpload(
            caller(),
            None,
            fields,
            filename,
            declared_type,
            raw_metadata,
            concat=FINAL,
            partials=concat.partials,
        )
    )
    headers = {
        "Location": f"/api/uploads/{session.upload_id}",
        "Upload-Offset": str(session.offset),
        **_state_headers(session),
    }
    response = Response("", status=201, headers=headers)
    del response.headers["Content-Type"]
    return response


@blueprint.post("/api/uploads/<upload_id>")
@operation(
    "Uploads",
    "overrideUploadMethod",
    "PATCH or DELETE through a POST (tus method override)",
    responses={
        204: Reply(
            "as the PATCH or DELETE it stands for",
            headers={**replies.TUS_STATE, **replies.TUS_RESUMABLE},
        )
    },
    problems=[400, 401, 403, 404, 405, 408, 409, 410, 412, 413, 415, 422, 460, 503],
    description="For clients that can only send GET and POST (tus-js-client's "
    "`overridePatchMethod`): `X-HTTP-Method-Override: PATCH` or `DELETE` makes this request "
    "that one, headers and body included; anything else is a 405.",
    parameters=[
        header("X-HTTP-Method-Override", "`PATCH` or `DELETE`", required=True),
        param.TUS_RESUMABLE,
    ],
    body=Body(bytes, OFFSET_STREAM, required=False),
)
async def override_method(upload_id: str) -> Response:
    """``X-HTTP-Method-Override: PATCH`` (or ``DELETE``) on a ``POST``: that request."""
    method = request.headers.get("X-HTTP-Method-Override", "").strip().upper()
    if method == "PATCH":
        return await append_upload(upload_id)
    if method == "DELETE":
        return await terminate_upload(upload_id)
    raise MethodNotAllowed(valid_methods=["GET", "HEAD", "PATCH", "DELETE", "OPTIONS"])


@blueprint.route("/api/uploads/<upload_id>", methods=["GET", "HEAD"])
@operation(
    "Uploads",
    "uploadProgress",
    "Follow an upload",
    method="GET",
    responses={200: Reply("its progress", records.UploadProgress)},
    problems=[400, 401, 404, 410, 503],
    description="A resumable upload, or a multipart upload sent with `X-Upload-Id` (while it "
    "runs and for ten minutes after), whichever instance took it: once the upload's `201` is "
    "sent, its committed state with the `asset_id` is readable here. For the uploader and the "
    "customer's admins; anyone else gets a 404. `WebSocket /api/events` streams the same as "
    "`upload.progress` events.",
)
@operation(
    "Uploads",
    "uploadOffset",
    "A resumable upload's offset (tus)",
    method="HEAD",
    responses={
        200: Reply(
            "where to resume",
            headers={
                **replies.UPLOAD_OFFSET,
                "Upload-Length": Header(int, "the upload's size, once known"),
                "Upload-Defer-Length": Header(str, "`1` while the length is unknown"),
                "Upload-Metadata": Header(str, "as sent at creation"),
                **replies.TUS_STATE,
            },
        )
    },
    problems=[400, 401, 403, 404, 410, 412, 503],
    description="An upload whose commit's instance died (its 10 s lease lapsed) is taken over "
    "in the background: this answers the offset at once, a later HEAD or GET shows `Asset-Id`.",
    parameters=[param.TUS_RESUMABLE],
)
async def upload_status(upload_id: str) -> Response:
    """``GET``: the JSON progress of any upload; ``HEAD``: tus's offset of a resumable one."""
    principal = caller()
    engine = services().engine
    if request.method == "HEAD":
        _require_tus()
        parse_upload_concat(request.headers.get("Upload-Concat"))  # understood, or a 400
        session = await engine.upload_session(principal, upload_id)
        if session.state is UploadState.FAILED:
            raise Gone("the upload's content was refused; start a new upload")
        headers = {"Upload-Offset": str(session.offset), "Cache-Control": "no-store"}
        if session.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(session.length)
        if session.metadata:
            headers["Upload-Metadata"] = session.metadata
        concat_header = upload_concat_header(session)
        if concat_header is not None:
            headers["Upload-Concat"] = concat_header
        headers.update(_state_headers(session))
        response = Response("", status=200, headers=headers)
        del response.headers["Content-Type"]
        return response
    progress = await engine.progress(principal, upload_id)
    return json_response(progress_json(progress), headers={"Cache-Control": "no-store"})


@blueprint.patch("/api/uploads/<upload_id>")
@operation(
    "Uploads",
    "appendUpload",
    "Send bytes of a resumable upload (tus)",
    responses={
        204: Reply(
            "the bytes are stored; when they were the last, the upload is committed and "
            "`Asset-Id` names the new asset",
            headers=replies.TUS_STATE,
        )
    },
    problems=[400, 401, 403, 404, 408, 409, 410, 412, 413, 415, 422, 460, 503],
    description="`Content-Type: application/offset+octet-stream` (else 415) at the upload's "
    "`Upload-Offset` (else 409). A body that breaks off keeps what arrived, unless it carried "
    "`Upload-Checksum`; a mismatching checksum is a 460 and the bytes are dropped. The request "
    "that brings the last byte answers once the upload went through the same checks as a "
    "multipart upload — with the 4xx of refused content (the upload is then gone: 410), or 204 "
    "and `Asset-Id`. A complete upload takes no more bytes (409). The last PATCH sent again "
    "without bytes answers with the asset; if the instance committing it died, it takes the "
    "commit over (once its 10 s lease lapsed; 409 while it is alive).",
    parameters=[
        param.TUS_RESUMABLE,
        param.UPLOAD_OFFSET,
        param.upload_length("the size, if creation deferred it"),
        param.UPLOAD_CHECKSUM,
    ],
    body=Body(bytes, OFFSET_STREAM),
)
async def append_upload(upload_id: str) -> Response:
    """tus's PATCH: bytes at ``Upload-Offset``. The request that brings the last byte answers
    once the upload is committed, with the new asset's id in ``Asset-Id`` — or with the 4xx the
    content earned."""
    principal = caller()
    _require_tus()
    # tus-js-client repeats ``Upload-Concat: partial`` on a partial upload's PATCHes
    concat = parse_upload_concat(request.headers.get("Upload-Concat"))
    if concat is not None and concat.kind == FINAL:
        raise InvalidInput("a final upload takes no PATCH: its partial uploads have the bytes")
    if not _is_offset_stream():
        raise _unsupported_body()
    offset = _decimal_header("Upload-Offset")
    if offset is None:
        raise InvalidInput("Upload-Offset is required")
    session, _ = await services().engine.append_upload(
        principal,
        upload_id,
        offset,
        _body(),
        length=_decimal_header("Upload-Length"),
        content_length=request.content_length,
        checksum=_checksum_header(),
        partial=concat is not None,
    )
    headers = {"Upload-Offset": str(session.offset), **_state_headers(session)}
    response = Response("", status=204, headers=headers)
    del response.headers["Content-Type"]
    return response


@blueprint.delete("/api/uploads/<upload_id>")
@operation(
    "Uploads",
    "terminateUpload",
    "End a resumable upload (tus termination)",
    responses={204: Reply("its bytes are removed", headers=replies.TUS_RESUMABLE)},
    problems=[400, 401, 403, 404, 409, 410, 412, 503],
    description="The bytes received are removed at once; until the upload would have expired, "
    "its URL answers 410. 409 while the upload is being committed, or once its asset exists.",
    parameters=[param.TUS_RESUMABLE],
)
async def terminate_upload(upload_id: str) -> Response:
    """tus termination: the bytes received so far are removed at once."""
    principal = caller()
    _require_tus()
    parse_upload_concat(request.headers.get("Upload-Concat"))  # understood, or a 400
    await services().engine.terminate_upload(principal, upload_id)
    response = Response("", status=204)
    del response.headers["Content-Type"]
    return response


# --- headers ---------------------------------------------------------------------------------


def _require_tus() -> None:
    if request.headers.get("Tus-Resumable", "").strip() != TUS_VERSION:
        raise HTTPProblem(
            412,
            "Precondition failed",
            f"this is tus {TUS_VERSION}: send 'Tus-Resumable: {TUS_VERSION}'",
            {"Tus-Version": TUS_VERSION},
        )


def _decimal_header(name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    value = parse_decimal(raw.strip())
    if value is None:
        raise InvalidInput(f"{name} must be a non-negative integer")
    return value


def _is_offset_stream() -> bool:
    content_type = request.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == OFFSET_STREAM


def _unsupported_body() -> HTTPProblem:
    return HTTPProblem(
        415, "Unsupported media type", f"upload bytes are sent as Content-Type: {OFFSET_STREAM}"
    )


def _has_body() -> bool:
    if request.content_length is not None:
        return request.content_length > 0
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _body():  # type: ignore[no-untyped-def]
    return _chunks_with_idle_timeout(request.body, services().settings.upload_idle_timeout)


def _checksum_header() -> Checksum | None:
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise InvalidInput(
            f"Upload-Checksum: {algorithm!r} is not supported "
            f"(one of {', '.join(CHECKSUM_ALGORITHMS)})"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("Upload-Checksum: the digest must be base64") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise InvalidInput(f"Upload-Checksum: not a {algorithm} digest")
    return Checksum(algorithm, digest)


def _state_headers(session: UploadSession) -> dict[str, str]:
    headers = {}
    if session.state is UploadState.RECEIVING:
        headers["Upload-Expires"] = http_date(session.expires_at)
    if session.asset_id is not None:
        headers["Asset-Id"] = session.asset_id
    return headers


def http_date(value: datetime) -> str:
    return email.utils.format_datetime(value, usegmt=True)


# --- Upload-Metadata -------------------------------------------------------------------------


def parse_metadata(raw: str) -> dict[str, str]:
    """``key base64value,key2 base64value,key3`` → ``{key: value}`` (UTF-8 values; a key
    without a value is an empty string)."""
    if len(raw) > MAX_METADATA:
        raise InvalidInput(f"Upload-Metadata is longer than {MAX_METADATA} bytes")
    found: dict[str, str] = {}
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        encoded = encoded.strip()
        if not key or not key.isascii() or " " in encoded:
            raise InvalidInput("Upload-Metadata must be 'key base64value' pairs, comma-separated")
        if key in found:
            raise InvalidInput(f"Upload-Metadata names {key!r} twice")
        try:
            found[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidInput(f"Upload-Metadata: {key!r} is not base64 of UTF-8 text") from None
    return found


def _asset_fields(
    metadata: dict[str, str], engine: AssetEngine
) -> tuple[NewAssetFields, str, str | None]:
    """The asset fields, the file name and the declared asset type the metadata gives. Keys a
    tus client adds of its own accord (``relativePath``…) are ignored."""
    form = {key: value for key, value in metadata.items() if key in UPLOAD_FIELDS}
    declared = form.pop("type", None) or None
    fields = new_asset_fields(form)
    name = metadata.get("filename") or metadata.get("name") or "upload"
    filename = field_rules.clean_filename(name)
    asset_types = engine.asset_types()
    if declared is not None and declared not in asset_types:
        # Uppy and tus-js-client send the MIME type as ``type`` / ``filetype``.
        by_mime = declared_type_of(declared, asset_types) if "/" in declared else None
        if by_mime is None and "/" not in declared:
            raise InvalidInput(f"type must be one of {', '.join(sorted(asset_types))}")
        declared = by_mime
    if declared is None and metadata.get("filetype"):
        declared = declared_type_of(metadata["filetype"], asset_types)
    return fields, filename, declared
