"""GraphQL object types made from the REST API's JSON schemas, so that a field of a record
cannot differ between the two: the REST schema (``/openapi.json``'s components) is the one
source, and its snake_case properties become camelCase fields here."""

from __future__ import annotations

import math
import re
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.language import ast as gql_ast

Schema = dict[str, Any]

# GraphQL's Int is 32 bits; sizes in bytes are not.
MAX_SAFE_INTEGER = 2**53 - 1


def _serialize_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise TypeError(f"Long cannot represent {value!r}")
    return value


def _parse_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise TypeError(f"Long must be an integer of at most 53 bits, not {value!r}")
    return value


def _parse_long_literal(node: gql_ast.ValueNode, _variables: Any = None) -> int:
    if not isinstance(node, gql_ast.IntValueNode) or len(node.value) > 17:
        raise TypeError("Long must be an integer of at most 53 bits")
    return _parse_long(int(node.value))


Long = GraphQLScalarType(
    "Long",
    description="An integer of up to 53 bits (sizes in bytes, counts), sent as a JSON number.",
    serialize=_serialize_long,
    parse_value=_parse_long,
    parse_literal=_parse_long_literal,
)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError("JSON cannot represent a non-finite number")
    return value


JSON = GraphQLScalarType(
    "JSON",
    description="Any JSON value, as the REST API shows it (free-form objects such as "
    "`custom` and `extracted`).",
    serialize=_json_value,
    parse_value=_json_value,
)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _key_resolver(key: str):  # type: ignore[no-untyped-def]
    def resolve(parent: Any, _info: GraphQLResolveInfo) -> Any:
        return parent.get(key) if isinstance(parent, dict) else getattr(parent, key, None)

    return resolve


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\W]+", name) if part)


class TypesFromSchemas:
    """Turns JSON schemas into GraphQL output types, named after their component (or their
    parent and property for inline objects); one GraphQL type per component, made once."""

    def __init__(self, components: dict[str, Schema]) -> None:
        self._components = components
        self._made: dict[str, GraphQLObjectType] = {}

    def object_type(self, name: str, description: str | None = None) -> GraphQLObjectType:
        if name not in self._made:
            self._made[name] = self._object(name, self._components[name], description)
        return self._made[name]

    def _object(self, name: str, schema: Schema, description: str | None) -> GraphQLObjectType:
        properties: dict[str, Schema] = schema.get("properties", {})
        required = set(schema.get("required", ()))

        def fields() -> dict[str, GraphQLField]:
            made = {}
            for key, of in properties.items():
                output = self.output(of, f"{name}{_pascal(key)}")
                if key in required and not _nullable(of):
                    output = GraphQLNonNull(output)
                made[camel(key)] = GraphQLField(
                    output, description=of.get("description"), resolve=_key_resolver(key)
                )
            return made

        return GraphQLObjectType(name, fields, description=description or schema.get("description"))

    def output(self, schema: Schema, name_if_object: str) -> GraphQLOutputType:
        """The GraphQL type of one JSON schema, nullability left to the caller."""
        if "$ref" in schema:
            return self.object_type_or_scalar(schema["$ref"].rsplit("/", 1)[1])
        variants = schema.get("anyOf") or schema.get("oneOf")
        if variants:
            concrete = [v for v in variants if v.get("type") != "null"]
            if len(concrete) == 1:
                return self.output(concrete[0], name_if_object)
            return JSON
        kind = schema.get("type")
        if isinstance(kind, list):
            concrete_kinds = [k for k in kind if k != "null"]
            kind = concrete_kinds[0] if len(concrete_kinds) == 1 else None
        if kind == "array":
            item = self.output(schema.get("items", {}), f"{name_if_object}Item")
            item_nullable = _nullable(schema.get("items", {}))
            return GraphQLList(item if item_nullable else GraphQLNonNull(item))
        if kind == "object":
            if schema.get("properties"):
                if name_if_object not in self._made:
                    self._made[name_if_object] = self._object(name_if_object, schema, None)
                return self._made[name_if_object]
            return JSON
        if kind == "string":
            return GraphQLString
        if kind == "integer":
            return Long
        if kind == "number":
            return GraphQLFloat
        if kind == "boolean":
            return GraphQLBoolean
        return JSON

    def object_type_or_scalar(self, name: str) -> GraphQLOutputType:
        schema = self._components[name]
        if schema.get("type") == "object" and schema.get("properties"):
            return self.object_type(name)
        return self.output(schema, name)


def _nullable(schema: Schema) -> bool:
    variants = schema.get("anyOf") or schema.get("oneOf") or ()
    kind = schema.get("type")
    return (
        any(v.get("type") == "null" for v in variants)
        or (isinstance(kind, list) and "null" in kind)
        or kind == "null"
    )
