"""The problem statuses the API answers, each once in ``#/components/responses``: an operation
lists the statuses it can answer and refers to these (``http/problems.py`` writes them)."""

from __future__ import annotations

import dataclasses

from ..header_limit import MAX_HEADER_BYTES, MAX_HEADER_FIELDS


@dataclasses.dataclass(frozen=True)
class ProblemStatus:
    name: str
    description: str
    #: response header → (description, or "" for none)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


PROBLEMS: dict[int, ProblemStatus] = {
    400: ProblemStatus("BadRequest", "Invalid input: a malformed parameter, header or body"),
    401: ProblemStatus("Unauthorized", "No valid bearer token", {"WWW-Authenticate": ""}),
    403: ProblemStatus("Forbidden", "The caller's role may not do this"),
    404: ProblemStatus(
        "NotFound", "No such asset (or one the caller may not see), type or version"
    ),
    405: ProblemStatus(
        "MethodNotAllowed",
        "Not a method of this URL (`X-HTTP-Method-Override` names PATCH or DELETE only)",
        {"Allow": "the methods this URL answers"},
    ),
    408: ProblemStatus(
        "RequestTimeout",
        "The request body stalled or was too slow for its size; the connection is closed",
    ),
    409: ProblemStatus(
        "Conflict",
        "A conflicting change: the asset changed too often meanwhile (try again), or an upload "
        "is not at the `Upload-Offset` sent, or is complete",
    ),
    410: ProblemStatus(
        "Gone", "The upload was terminated, has expired, or its content was refused"
    ),
    429: ProblemStatus(
        "TooManyRequests",
        "The customer has as many resumable uploads open as `ASSET_MAX_OPEN_UPLOADS` allows",
    ),
    412: ProblemStatus(
        "PreconditionFailed",
        "`If-Match` names a revision that is no longer current; for tus requests, no "
        "`Tus-Resumable: 1.0.0` (the answer's `Tus-Version` names the version spoken)",
    ),
    413: ProblemStatus("PayloadTooLarge", "The body is larger than the service accepts"),
    415: ProblemStatus(
        "UnsupportedMediaType", "The body or its bytes are of a type not accepted here"
    ),
    416: ProblemStatus(
        "RangeNotSatisfiable",
        "The `Range` lies outside the content",
        {"Content-Range": "`bytes */<size>`"},
    ),
    422: ProblemStatus(
        "UnprocessableContent", "The bytes are of a known type but broken or dangerous"
    ),
    431: ProblemStatus(
        "RequestHeaderFieldsTooLarge",
        f"More than {MAX_HEADER_FIELDS} request header fields, or more than "
        f"{MAX_HEADER_BYTES // 1024} KiB of them",
    ),
    460: ProblemStatus(
        "ChecksumMismatch",
        "The bytes do not match their `Upload-Checksum` (tus); they were discarded",
    ),
    503: ProblemStatus("ServiceUnavailable", "The service is shutting down"),
}

#: every request: its head is checked before it reaches any route (``header_limit.py``)
ANY_REQUEST = (431,)
