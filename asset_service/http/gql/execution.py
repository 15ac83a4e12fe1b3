"""Running one GraphQL request under Trio.

graphql-core's asynchronous executor needs an asyncio loop (it gathers with
``asyncio.gather``), so the whole request — parse, validate, the limits, execute — runs
synchronously in a worker thread, and resolvers reach the engine through
``trio.from_thread.run``. Those threads have a limiter of their own: a thread parked in
``from_thread.run`` on Trio's default limiter would hold a slot the engine's own file and
hashing work needs, and enough concurrent requests would deadlock
(docs/decisions.md, "GraphQL on Trio").
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import trio
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)

from asset_service.engine.errors import AssetServiceError

from ..problems import status_of
from . import limits

logger = logging.getLogger(__name__)

#: resolver threads per process (each waits on the engine, it does not compute)
GRAPHQL_THREADS = 16
#: distinct valid query documents kept parsed and validated
DOCUMENT_CACHE_SIZE = 256

CODE_OF_STATUS = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    412: "CONFLICT",
    413: "BAD_USER_INPUT",
    415: "BAD_USER_INPUT",
    416: "BAD_USER_INPUT",
    422: "BAD_USER_INPUT",
}


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    operation_name: str | None = None


class RequestError(Exception):
    """The request cannot be run at all (no query, a variable map that is not an object…)."""


def request_from(params: dict[str, Any]) -> GraphQLRequest:
    """The GraphQL-over-HTTP parameters, checked: ``query`` (a string), ``variables`` (an
    object or null), ``operationName`` (a string or null)."""
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError("the request has no query (a GraphQL document in `query`)")
    if len(query.encode()) > limits.MAX_QUERY_BYTES:
        raise RequestError(f"the query is longer than {limits.MAX_QUERY_BYTES} bytes")
    variables = params.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise RequestError("`variables` must be a JSON object")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("`operationName` must be a string")
    unknown = set(params) - {"query", "variables", "operationName", "extensions"}
    if unknown:
        raise RequestError(f"unknown request parameters: {', '.join(sorted(unknown))}")
    return GraphQLRequest(query, variables, operation_name)


@dataclass(frozen=True, slots=True)
class Outcome:
    payload: dict[str, Any]
    #: the request never reached execution (syntax, validation, a limit)
    refused: bool


def error_json(error: GraphQLError) -> dict[str, Any]:
    """An error as the response shows it: message, where, and ``extensions.code``; never a
    stack trace."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    message = error.message
    if isinstance(original, AssetServiceError):
        status = status_of(original)
        extensions["code"] = CODE_OF_STATUS.get(status, "INTERNAL_SERVER_ERROR")
        message = original.reason
    elif original is not None and not isinstance(original, GraphQLError):
        logger.error("GraphQL resolver failed", exc_info=original)
        extensions["code"] = "INTERNAL_SERVER_ERROR"
        message = "the service failed to answer this field"
    extensions.setdefault("code", "BAD_USER_INPUT")
    body: dict[str, Any] = {"message": message, "extensions": extensions}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = list(error.path)
    return body


def _refused(errors: list[GraphQLError], code: str | None = None) -> Outcome:
    formatted = []
    for error in errors:
        if code is not None and not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}
        formatted.append(error_json(error))
    return Outcome({"errors": formatted}, refused=True)


class _Invalid(Exception):
    def __init__(self, errors: list[GraphQLError]) -> None:
        self.errors = errors


@functools.lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def valid_document(schema: GraphQLSchema, query: str) -> DocumentNode:
    """The parsed document, once it has passed validation. A frontend sends the same few
    queries over and over: parsing and validating each once halves the cost of a small
    query (bench/graphql_vs_rest.py). Refusals are exceptions, so they are never cached."""
    document = parse(query, max_tokens=limits.MAX_TOKENS)
    errors = validate(schema, document, max_errors=20)
    if errors:
        raise _Invalid(errors)
    return document


def run_sync(
    schema: GraphQLSchema, request: GraphQLRequest, context: Any, *, allow_mutations: bool
) -> Outcome:
    """The whole request, synchronously: in a worker thread (see ``run``)."""
    try:
        document = valid_document(schema, request.query)
    except GraphQLSyntaxError as error:
        return _refused([error], "GRAPHQL_PARSE_FAILED")
    except _Invalid as invalid:
        return _refused(invalid.errors, "GRAPHQL_VALIDATION_FAILED")
    operation = get_operation_ast(document, request.operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return _refused(
            [GraphQLError("name the operation to run (`operationName`), one of the document's")],
            "BAD_USER_INPUT",
        )
    if operation.operation.value == "subscription":
        return _refused(
            [GraphQLError("subscriptions are not served here: use the WebSocket /api/events")],
            "BAD_USER_INPUT",
        )
    if operation.operation.value == "mutation" and not allow_mutations:
        return _refused(
            [GraphQLError("mutations need POST (a GET must not change anything)")],
            "BAD_REQUEST",
        )
    exceeded = limits.check(schema, document, operation, request.variables)
    if exceeded is not None:
        return _refused([exceeded.error()])
    result: ExecutionResult = execute_sync(
        schema,
        document,
        context_value=context,
        variable_values=request.variables,
        operation_name=request.operation_name,
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error_json(error) for error in result.errors]
    # Variables that do not coerce leave no data at all: the request was refused.
    return Outcome(payload, refused=result.data is None and bool(result.errors))


async def run(
    schema: GraphQLSchema,
    request: GraphQLRequest,
    context: Any,
    limiter: trio.CapacityLimiter,
    *,
    allow_mutations: bool,
) -> Outcome:
    return await trio.to_thread.run_sync(
        lambda: run_sync(schema, request, context, allow_mutations=allow_mutations),
        limiter=limiter,
    )
