"""What a route declares about itself: ``@operation(...)`` under the blueprint's decorator.

The declaration holds what the URL rule cannot say — summary, query and header parameters, the
request body's model, the answers' models, the problem statuses it can answer — and
``openapi.py`` adds what the rule does say (path, methods, path parameters). A route with neither
a declaration nor ``@undocumented`` stops the app from being created.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from .problems import PROBLEMS

JSON = "application/json"
MULTIPART = "multipart/form-data"

View = TypeVar("View", bound=Callable[..., Any])

#: the attribute of a view function that holds its declarations, by method (``None``: any)
DECLARATIONS = "__openapi_operations__"
#: the attribute that exempts a view from the document (the document's own routes)
UNDOCUMENTED = "__openapi_undocumented__"


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A path, query or header parameter. One with a ``component`` name is listed once in
    ``#/components/parameters`` and referred to by every operation that takes it."""

    name: str
    where: Literal["path", "query", "header"]
    type: Any
    description: str = ""
    required: bool = False
    component: str | None = None


def query(name: str, type: Any, description: str, *, component: str | None = None) -> Parameter:
    return Parameter(name, "query", type, description, component=component)


def header(
    name: str,
    description: str,
    type: Any = str,
    *,
    required: bool = False,
    component: str | None = None,
) -> Parameter:
    return Parameter(name, "header", type, description, required, component)


@dataclasses.dataclass(frozen=True)
class Header:
    """A response header."""

    type: Any = str
    description: str = ""
    required: bool = False


@dataclasses.dataclass(frozen=True)
class Reply:
    """A successful answer: ``model`` is its JSON body; ``content`` gives other bodies as media
    type → type (``bytes`` for any bytes)."""

    description: str
    model: Any = None
    headers: Mapping[str, Header] = dataclasses.field(default_factory=dict)
    content: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Body:
    """A request body: ``type`` is its model, or ``bytes`` for any bytes."""

    type: Any
    media_type: str = JSON
    required: bool = True
    encoding: Mapping[str, Any] | None = None

    @classmethod
    def json(cls, model: Any) -> Body:
        return cls(model)

    @classmethod
    def multipart(cls, model: Any) -> Body:
        """A streamed multipart form whose ``file`` part is any bytes."""
        file_part = {"contentType": "application/octet-stream, */*"}
        return cls(model, MULTIPART, encoding={"file": file_part})


class Auth(enum.Enum):
    """Who may call: ``security`` as OpenAPI says it, and whether the operation takes
    ``X-Customer-Id`` (every one that takes a JWT)."""

    BEARER = ([{"bearerAuth": []}], True)
    #: a token is optional: public assets and signed links download without one
    BEARER_OR_NONE = ([{"bearerAuth": []}, {}], True)
    #: ``/metrics``: its own static token, when one is set
    METRICS_TOKEN = ([{"metricsToken": []}, {}], False)
    NONE = ([], False)

    @property
    def security(self) -> list[dict[str, list[str]]]:
        return self.value[0]

    @property
    def takes_customer(self) -> bool:
        return self.value[1]


@dataclasses.dataclass(frozen=True)
class Operation:
    tag: str
    operation_id: str
    summary: str
    responses: Mapping[int, Reply]
    #: the 4xx/5xx statuses it answers (with a problem document) besides 431, which any can
    problems: Sequence[int]
    description: str = ""
    parameters: Sequence[Parameter] = ()
    body: Body | None = None
    auth: Auth = Auth.BEARER
    #: problems also answered in ``text/plain`` (to a media element, which can't read JSON)
    plain_text_problems: Sequence[int] = ()

    def __post_init__(self) -> None:
        unknown = [status for status in self.problems if status not in PROBLEMS]
        if unknown:
            raise ValueError(f"{self.operation_id}: no problem is described for {unknown}")
        if not any(200 <= status < 300 for status in self.responses):
            raise ValueError(f"{self.operation_id}: no successful answer is declared")


def operation(
    tag: str,
    operation_id: str,
    summary: str,
    *,
    responses: Mapping[int, Reply],
    problems: Sequence[int] = (),
    description: str = "",
    parameters: Sequence[Parameter] = (),
    body: Body | None = None,
    auth: Auth = Auth.BEARER,
    method: str | None = None,
    head: tuple[str, str] | None = None,
    plain_text_problems: Sequence[int] = (),
) -> Callable[[View], View]:
    """Declare the route below as one OpenAPI operation — of every method it serves, or of
    ``method`` only (stack one per method when they differ). ``head``: its ``HEAD`` is the same
    operation under another (operationId, summary); without it, Quart's automatic ``HEAD`` is
    left out. Path parameters come from the URL rule; ``X-Customer-Id`` and the 431 of an
    oversized head are added where they apply."""
    declared = Operation(
        tag,
        operation_id,
        summary,
        responses,
        tuple(problems),
        description,
        tuple(parameters),
        body,
        auth,
        tuple(plain_text_problems),
    )

    by_method: dict[str | None, Operation] = {method.upper() if method else None: declared}
    if head is not None:
        head_id, head_summary = head
        by_method["HEAD"] = dataclasses.replace(
            declared, operation_id=head_id, summary=head_summary
        )

    def attach(view: View) -> View:
        declarations: dict[str | None, Operation] = view.__dict__.setdefault(DECLARATIONS, {})
        twice = sorted(str(key or "the route") for key in set(declarations) & set(by_method))
        if twice:
            raise ValueError(f"{view.__qualname__}: {twice} declared twice")
        declarations.update(by_method)
        return view

    return attach


def undocumented(view: View) -> View:
    """A route the document leaves out on purpose (it serves the document)."""
    setattr(view, UNDOCUMENTED, True)
    return view


def declarations_of(view: Callable[..., Any]) -> Mapping[str | None, Operation]:
    return getattr(view, DECLARATIONS, {})


def is_undocumented(view: Callable[..., Any]) -> bool:
    return getattr(view, UNDOCUMENTED, False)
