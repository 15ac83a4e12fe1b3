"""The OpenAPI 3.1 description of the HTTP API, generated from the app's routes.

Each route declares itself with ``@operation`` (``schema/operation.py``): models of its body and
answers (``schema/records.py``, ``schema/requests.py``), its query and header parameters, the
problem statuses it answers. This module walks the app's URL map and adds what the rules say —
paths, methods, path parameters. A route without a declaration fails here, when the app is
created. Served at ``/openapi.json`` and rendered at ``/docs`` (``routes/docs.py``); a fuzz run
checks every answer against it (``tests/api/test_fuzz.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from quart import Quart
from werkzeug.routing import IntegerConverter, Rule

from asset_service.engine.model import Role

from .schema.jsonschema import Components, Schema
from .schema.operation import (
    JSON,
    MULTIPART,
    Auth,
    Body,
    Header,
    Operation,
    Parameter,
    Reply,
    declarations_of,
    is_undocumented,
)
from .schema.parameters import CUSTOMER_ID, PATH
from .schema.problems import ANY_REQUEST, PROBLEMS
from .schema.records import Problem

__all__ = [
    "JSON",
    "MULTIPART",
    "OPENAPI_KEY",
    "PROBLEM_JSON",
    "UndeclaredRoute",
    "openapi_document",
    "openapi_path",
]

PROBLEM_JSON = "application/problem+json"
#: where ``create_app`` keeps the app's document (``app.extensions``)
OPENAPI_KEY = "openapi"

TAGS = {
    "Assets": "Upload, read, edit, delete and restore assets; search them.",
    "Versions": "Every content an asset has had.",
    "Content": "Downloads, ranged and conditional, and links that need no token.",
    "Library": "A type's assets by folder, its folders, moves, tags and categories.",
    "Audio library": "The audio endpoints of the old api-server.",
    "Uploads": "Resumable uploads (tus 1.0.0) and the progress of any upload.",
    "Operations": "Health and readiness.",
}

_RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


class UndeclaredRoute(RuntimeError):
    """A route has no ``@operation`` (or one that does not fit it): it cannot be served
    undocumented."""


def openapi_path(rule: str) -> str:
    """``/api/assets/<asset_id>/versions/<int:number>`` → ``…/{asset_id}/versions/{number}``."""
    return _RULE_ARGUMENT.sub(r"{\1}", rule)


def openapi_document(app: Quart, asset_types: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app's routes, for a service whose asset types are
    these. ``UndeclaredRoute`` when a route has no declaration."""
    builder = _Builder(sorted(asset_types))
    paths: dict[str, dict[str, Schema]] = {}
    for rule in app.url_map.iter_rules():
        # (WebSocket routes have no place in OpenAPI: their docs are the README's)
        if rule.websocket or rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if is_undocumented(view):
            continue
        item = paths.setdefault(openapi_path(rule.rule), {})
        for method, declared in _operations(rule, declarations_of(view)):
            item[method.lower()] = builder.operation(rule, declared)
    roles = ", ".join(f"`{role.value}`" for role in Role)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Asset Service",
            "version": "1",
            "description": "One service that owns every file a product handles: streamed "
            "uploads, ranged downloads, searchable metadata, versions, access control.\n\n"
            "JSON everywhere; every error is an RFC 9457 problem document "
            "(`application/problem+json`). Lists answer `{items, next_cursor}`. A user sees "
            "only their customer's assets: another customer's asset is a 404, never a 403.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(builder.components.schemas.items())),
            "parameters": dict(sorted(builder.parameters.items())),
            "responses": dict(sorted(builder.responses.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Claims: `sub` (the user), `customer_id`, `roles` (of "
                    f"{roles}); `exp` is required. A `service` token names the customer it "
                    "acts for in the `X-Customer-Id` header.",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`ASSET_METRICS_TOKEN`, for `/metrics` when it is set.",
                },
            },
        },
        "security": Auth.BEARER.security,
    }


def _operations(
    rule: Rule, declared: Mapping[str | None, Operation]
) -> Iterator[tuple[str, Operation]]:
    """Each method the rule serves with its declaration. ``OPTIONS`` (CORS, tus discovery) and
    the ``HEAD`` Quart adds to a ``GET`` are left out unless declared."""
    where = f"{rule.rule} ({rule.endpoint})"
    if not declared:
        raise UndeclaredRoute(f"{where} has no @operation: declare it (http/schema/operation.py)")
    served = set(rule.methods or ()) - {"OPTIONS"}
    stale = sorted(str(m) for m in declared if m is not None and m not in served)
    if stale:
        raise UndeclaredRoute(f"{where} declares {stale}, which it does not serve")
    for method in sorted(served):
        found = declared.get(method) or (declared.get(None) if method != "HEAD" else None)
        if found is not None:
            yield method, found
        elif method != "HEAD":
            raise UndeclaredRoute(f"{where}: {method} has no @operation")


class _Builder:
    def __init__(self, asset_types: list[str]) -> None:
        self.components = Components(asset_types)
        self.parameters: dict[str, Schema] = {}
        self.responses: dict[str, Schema] = {}
        self.operation_ids: set[str] = set()

    def operation(self, rule: Rule, declared: Operation) -> Schema:
        if declared.operation_id in self.operation_ids:
            raise UndeclaredRoute(f"operationId {declared.operation_id!r} is used twice")
        self.operation_ids.add(declared.operation_id)
        if declared.tag not in TAGS:
            raise UndeclaredRoute(f"{declared.operation_id}: no tag {declared.tag!r} in TAGS")
        parameters = [
            *self._path_parameters(rule, declared),
            *(self._parameter(p) for p in declared.parameters if p.where != "path"),
        ]
        if declared.auth.takes_customer:
            parameters.append(self._parameter(CUSTOMER_ID))
        responses = {str(status): self._reply(r) for status, r in declared.responses.items()}
        for status in (*declared.problems, *ANY_REQUEST):
            responses[str(status)] = self._problem(status)
        for status in declared.plain_text_problems:
            responses[str(status)] = self._problem_or_text(status)
        found: Schema = {
            "tags": [declared.tag],
            "operationId": declared.operation_id,
            "summary": declared.summary,
            "responses": dict(sorted(responses.items())),
        }
        if declared.description:
            found["description"] = declared.description
        if parameters:
            found["parameters"] = parameters
        if declared.body is not None:
            found["requestBody"] = self._body(declared.body)
        found["security"] = declared.auth.security
        return found

    def _path_parameters(self, rule: Rule, declared: Operation) -> Iterator[Schema]:
        own = {p.name: p for p in declared.parameters if p.where == "path"}
        for name in _RULE_ARGUMENT.findall(rule.rule):
            parameter = own.get(name) or PATH.get(name)
            if parameter is None:
                raise UndeclaredRoute(f"{rule.rule}: no description of the path parameter {name}")
            kind = self.components.schema_of(parameter.type).get("type")
            integer = isinstance(rule._converters[name], IntegerConverter)
            if kind != ("integer" if integer else "string"):
                raise UndeclaredRoute(f"{rule.rule}: {name} is described as {kind}")
            yield self._parameter(parameter)

    def _parameter(self, parameter: Parameter) -> Schema:
        found: Schema = {"name": parameter.name, "in": parameter.where}
        if parameter.description:
            found["description"] = parameter.description
        if parameter.required or parameter.where == "path":
            found["required"] = True
        found["schema"] = self.components.schema_of(parameter.type)
        if parameter.component is None:
            return found
        if self.parameters.setdefault(parameter.component, found) != found:
            raise UndeclaredRoute(f"two different parameters are named {parameter.component}")
        return {"$ref": f"#/components/parameters/{parameter.component}"}

    def _header(self, header: Header) -> Schema:
        found: Schema = {"schema": self.components.schema_of(header.type)}
        if header.description:
            found["description"] = header.description
        if header.required:
            found["required"] = True
        return found

    def _reply(self, reply: Reply) -> Schema:
        found: Schema = {"description": reply.description}
        if reply.headers:
            found["headers"] = {name: self._header(h) for name, h in reply.headers.items()}
        content = {JSON: reply.model} if reply.model is not None else {}
        content.update(reply.content)
        if content:
            found["content"] = {
                media_type: {"schema": self.components.schema_of(of)}
                for media_type, of in content.items()
            }
        return found

    def _problem_or_text(self, status: int) -> Schema:
        """The problem document, or the same words in ``text/plain`` for a media element."""
        self._problem(status)
        shared = self.responses[PROBLEMS[status].name]
        return {
            **shared,
            "description": shared["description"] + " (in `text/plain` to a media element's "
            "request: a `Range` or a media `Sec-Fetch-Dest`, no JSON in `Accept`)",
            "content": {**shared["content"], "text/plain": {"schema": {"type": "string"}}},
        }

    def _problem(self, status: int) -> Schema:
        problem = PROBLEMS[status]
        ref = {"$ref": f"#/components/responses/{problem.name}"}
        if problem.name in self.responses:
            return ref
        found: Schema = {
            "description": problem.description,
            "content": {PROBLEM_JSON: {"schema": self.components.schema_of(Problem)}},
        }
        if problem.headers:
            found["headers"] = {
                name: self._header(Header(str, description, required=True))
                for name, description in problem.headers.items()
            }
        self.responses[problem.name] = found
        return ref

    def _body(self, body: Body) -> Schema:
        media: Schema = {"schema": self.components.schema_of(body.type)}
        if body.encoding:
            media["encoding"] = dict(body.encoding)
        return {"required": body.required, "content": {body.media_type: media}}
