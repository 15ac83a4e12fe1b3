"""Python types → JSON Schema (2020-12, as OpenAPI 3.1 uses it).

A model is a ``TypedDict``: its name is its component name, its docstring the description, its
``Required``/``NotRequired`` keys the ``required`` list. Constraints ride on the types in
``Annotated[...]``: ``Meta`` for the JSON Schema keywords, ``Named`` to emit a schema as a
component of its own, ``AssetTypes`` for what depends on the running service's type plugins.
"""

import dataclasses
import enum
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

Schema = dict[str, Any]
_Model = typing.TypeVar("_Model", bound=type)

_NO_VALUE: Any = object()


@dataclasses.dataclass(frozen=True)
class Meta:
    """JSON Schema keywords for the type it annotates (``None``: not said)."""

    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    content_media_type: str | None = None
    examples: Sequence[Any] | None = None
    default: Any = _NO_VALUE

    def keywords(self) -> Schema:
        found: Schema = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or value is _NO_VALUE:
                continue
            head, *rest = field.name.split("_")
            key = head + "".join(word.title() for word in rest)
            found[key] = list(value) if field.name == "examples" else value
        return found


@dataclasses.dataclass(frozen=True)
class Named:
    """Emit the annotated schema once, as ``#/components/schemas/<name>``, and refer to it."""

    name: str


@dataclasses.dataclass(frozen=True)
class AssetTypes:
    """The asset types of the running service (its plugins decide them): as the ``enum``, or
    listed after ``listed_after`` in the description (a stored record may outlive its plugin)."""

    listed_after: str | None = None


@dataclasses.dataclass(frozen=True)
class Closed:
    """An object that takes no properties besides its own (``additionalProperties: false``)."""


#: put in ``Annotated[SomeTypedDict, CLOSED]``, or decorate the class with ``closed``
CLOSED = Closed()


def closed(model: _Model) -> _Model:
    """A request model whose unknown fields are a 400."""
    model.__openapi_closed__ = True  # type: ignore[attr-defined]
    return model


_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    bytes: {"type": "string", "format": "binary"},
    datetime: {"type": "string", "format": "date-time"},
    type(None): {"type": "null"},
    Any: {},
}


class SchemaError(TypeError):
    """A type the converter cannot describe, or two different schemas under one name."""


class Components:
    """Turns types into schemas, collecting the named ones for ``#/components/schemas``."""

    def __init__(self, asset_types: Sequence[str]) -> None:
        self.asset_types = list(asset_types)
        self.schemas: dict[str, Schema] = {}
        #: the type each component was built from: asked again, it is not built again
        self._built_from: dict[str, Any] = {}
        self._building: set[str] = set()

    def schema_of(self, annotation: Any) -> Schema:
        metadata: tuple[Any, ...] = ()
        if get_origin(annotation) is typing.Annotated:
            annotation, *extras = get_args(annotation)
            metadata = tuple(extras)
        named = next((m.name for m in metadata if isinstance(m, Named)), None)
        if named is None and is_typeddict(annotation):
            named = annotation.__name__
        if named is None:
            return self._annotated(annotation, metadata)
        source = (annotation, metadata)
        return self._component(named, source, lambda: self._annotated(annotation, metadata))

    def _component(self, name: str, source: Any, build: typing.Callable[[], Schema]) -> Schema:
        ref = {"$ref": f"#/components/schemas/{name}"}
        if name in self._building or self._built_from.get(name, _NO_VALUE) == source:
            return ref  # a model that contains itself, or one already built
        self._building.add(name)
        try:
            built = build()
        finally:
            self._building.discard(name)
        if self.schemas.setdefault(name, built) != built:
            raise SchemaError(f"two different schemas are named {name!r}")
        self._built_from[name] = source
        return ref

    def _annotated(self, annotation: Any, metadata: tuple[Any, ...]) -> Schema:
        schema = self._bare(annotation, closed=CLOSED in metadata)
        for item in metadata:
            if isinstance(item, Meta):
                schema.update(item.keywords())
            elif isinstance(item, AssetTypes):
                if item.listed_after is None:
                    schema["enum"] = list(self.asset_types)
                else:
                    schema["description"] = item.listed_after + ", ".join(self.asset_types)
        return schema

    def _bare(self, annotation: Any, *, closed: bool = False) -> Schema:
        if annotation in _SCALARS:
            return dict(_SCALARS[annotation])
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            options = get_args(annotation)
            return {"anyOf": [self.schema_of(option) for option in options]}
        if origin is Literal:
            values = list(get_args(annotation))
            kind = self._bare(type(values[0]))
            return {**kind, "const": values[0]} if len(values) == 1 else {**kind, "enum": values}
        if origin is list:
            (item,) = get_args(annotation)
            return {"type": "array", "items": self.schema_of(item)}
        if origin is dict:
            key, value = get_args(annotation)
            if key is not str:
                raise SchemaError(f"JSON object keys are strings, not {key!r}")
            if value is Any:
                return {"type": "object"}
            return {"type": "object", "additionalProperties": self.schema_of(value)}
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            values = [member.value for member in annotation]
            return {**self._bare(type(values[0])), "enum": values}
        if is_typeddict(annotation):
            return self._object(annotation, closed=closed)
        raise SchemaError(f"no JSON Schema for {annotation!r}")

    def _object(self, model: type, *, closed: bool) -> Schema:
        hints = get_type_hints(model, include_extras=True)
        schema: Schema = {"type": "object"}
        if model.__doc__:
            schema["description"] = " ".join(model.__doc__.split())
        if closed or getattr(model, "__openapi_closed__", False):
            schema["additionalProperties"] = False
        required = [name for name, hint in hints.items() if _is_required(model, name, hint)]
        if required:
            schema["required"] = required
        schema["properties"] = {name: self.schema_of(_unwrap(hint)) for name, hint in hints.items()}
        return schema


def _is_required(model: Any, name: str, hint: Any) -> bool:
    """``Required``/``NotRequired`` as written, else the class's totality. (The class's own
    ``__required_keys__`` misses the wrappers when its annotations are strings.)"""
    if get_origin(hint) is typing.Required:
        return True
    if get_origin(hint) is typing.NotRequired:
        return False
    return name in model.__required_keys__


def _unwrap(hint: Any) -> Any:
    """``Required[X]`` / ``NotRequired[X]`` → ``X`` (the class's key sets already say which)."""
    while get_origin(hint) in (typing.Required, typing.NotRequired):
        (hint,) = get_args(hint)
    return hint
