"""RFC 9457 problem documents, and the one place where errors become responses."""

from __future__ import annotations

import json
import logging
from typing import Any

from quart import Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from asset_service.engine import errors

logger = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://asset-service.dev/problems/"

_STATUS_OF: list[tuple[type[errors.AssetServiceError], int]] = [
    (errors.InvalidInput, 400),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.PreconditionFailed, 412),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedContent, 415),
    (errors.UnprocessableContent, 422),
    (errors.TooManyUploads, 429),
    # tus's checksum extension: the bytes do not match their Upload-Checksum
    (errors.ChecksumMismatch, 460),
    (errors.EngineStopped, 503),
]


class HTTPProblem(Exception):
    """An error only the HTTP layer knows of (authentication, ranges, request framing)."""

    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def unauthorized(detail: str) -> HTTPProblem:
    return HTTPProblem(
        401, "Unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="asset-service"'}
    )


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    slug = title.lower().replace(" ", "-")
    body = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    response = Response(json.dumps(body), status=status, content_type="application/problem+json")
    # a refusal is never kept: a cache in front (a CDN keeping signed links' answers) must
    # ask again, and the next answer may differ
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def status_of(error: errors.AssetServiceError) -> int:
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status
    return 500


def register_error_handlers(app: QuartTrio) -> None:
    @app.errorhandler(errors.AssetServiceError)
    async def domain_error(error: errors.AssetServiceError) -> Response:
        status = status_of(error)
        if status >= 500:
            logger.error("internal error: %s", error.reason)
        return problem_response(status, error.title, error.reason)

    @app.errorhandler(HTTPProblem)
    async def http_problem(error: HTTPProblem) -> Response:
        return problem_response(error.status, error.title, error.detail, error.headers)

    @app.errorhandler(HTTPException)
    async def werkzeug_error(error: HTTPException) -> Response:
        status = error.code or 500
        headers = {}
        if status == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return problem_response(status, error.name, error.description or error.name, headers)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        logger.exception("unhandled error", exc_info=error)
        return problem_response(500, "Internal server error", "an unexpected error occurred")
