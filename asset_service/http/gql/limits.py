"""Limits a GraphQL request must stay within, checked before anything runs.

- depth: nested selections, fragments followed — exactly as deep as the standard
  introspection query GraphiQL sends, so tools work and nothing deeper passes;
- root fields: at most ``MAX_ROOT_FIELDS`` fields (aliases included) at the top of an
  operation, and at most ``MAX_ALIASES`` aliases in the whole document;
- cost: every field costs 1, times the length of each list above it — the page size a
  ``limit`` argument asks for (default 50) for the list of that page, ``DEFAULT_LIST_COST``
  for other lists; at most ``MAX_COST``. Introspection (``__schema``, ``__type``) is free
  but still depth-bound.

A request over a limit is answered with one error whose ``extensions`` name the limit, its
maximum and what the request asked for; nothing is executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_introspection_query,
    get_named_type,
    parse,
)

from ..query import DEFAULT_LIMIT

MAX_ROOT_FIELDS = 100
MAX_ALIASES = 100
MAX_COST = 25_000
DEFAULT_LIST_COST = 10
#: bytes of query text; a document past this is refused before it is parsed
MAX_QUERY_BYTES = 64 * 1024
#: lexical tokens graphql-core may read from one document
MAX_TOKENS = 10_000
INTROSPECTION_FIELDS = ("__schema", "__type")


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    limit: str
    maximum: int
    actual: int
    message: str

    def error(self) -> GraphQLError:
        return GraphQLError(
            self.message,
            extensions={
                "code": "QUERY_LIMIT",
                "limit": self.limit,
                "maximum": self.maximum,
                "actual": self.actual,
            },
        )


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.aliases = 0

    def fields(self, selection_set: SelectionSetNode, seen: frozenset[str]) -> list[FieldNode]:
        """The fields of a selection set, fragments spread in (a fragment cycle is invalid
        GraphQL and refused by validation first; ``seen`` guards anyway)."""
        found: list[FieldNode] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                found.extend(self.fields(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    found.extend(self.fields(fragment.selection_set, seen | {name}))
        return found

    def depth(
        self, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()
    ) -> int:
        if selection_set is None:
            return 0
        fields = self.fields(selection_set, seen)
        return 1 + max((self.depth(field.selection_set, seen) for field in fields), default=0)

    def page_size(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != "limit":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return given if isinstance(given, int) else DEFAULT_LIMIT
        return None

    def cost(
        self,
        parent: GraphQLObjectType,
        selection_set: SelectionSetNode,
        page: int | None = None,
    ) -> int:
        """``page``: the page size a field above asked for (``limit``), which is the length
        of the first list below it (a connection's ``items``)."""
        total = 0
        for field in self.fields(selection_set, frozenset()):
            if field.alias is not None:
                self.aliases += 1
            name = field.name.value
            if name in INTROSPECTION_FIELDS or name == "__typename":
                continue
            definition = parent.fields.get(name)
            if definition is None:
                continue  # validation has refused it already
            output = definition.type
            output = output.of_type if isinstance(output, GraphQLNonNull) else output
            is_list = isinstance(output, GraphQLList)
            multiplier = (page or DEFAULT_LIST_COST) if is_list else 1
            below_page = self.page_size(field) if not is_list else None
            inner = get_named_type(output)
            below = (
                self.cost(inner, field.selection_set, below_page or (None if is_list else page))
                if field.selection_set is not None and isinstance(inner, GraphQLObjectType)
                else 0
            )
            total += multiplier * (1 + below)
        return total


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _introspection_depth() -> int:
    document = parse(get_introspection_query(descriptions=True))
    walk = _Walk(GraphQLSchema(), _fragments(document), {})
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return walk.depth(operation.selection_set)


#: as deep as GraphiQL's introspection query, and no deeper
MAX_DEPTH = _introspection_depth()


def check(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> LimitExceeded | None:
    walk = _Walk(schema, _fragments(document), variables)
    depth = walk.depth(operation.selection_set)
    if depth > MAX_DEPTH:
        return LimitExceeded(
            "depth", MAX_DEPTH, depth, f"the query is {depth} levels deep; at most {MAX_DEPTH}"
        )
    roots = len(walk.fields(operation.selection_set, frozenset()))
    if roots > MAX_ROOT_FIELDS:
        return LimitExceeded(
            "root_fields",
            MAX_ROOT_FIELDS,
            roots,
            f"the operation has {roots} root fields; at most {MAX_ROOT_FIELDS}",
        )
    root_type = (
        schema.mutation_type if operation.operation.value == "mutation" else schema.query_type
    )
    if root_type is None:
        return None
    cost = walk.cost(root_type, operation.selection_set)
    if walk.aliases > MAX_ALIASES:
        return LimitExceeded(
            "aliases",
            MAX_ALIASES,
            walk.aliases,
            f"the query uses {walk.aliases} aliases; at most {MAX_ALIASES}",
        )
    if cost > MAX_COST:
        return LimitExceeded(
            "cost",
            MAX_COST,
            cost,
            f"the query would cost {cost} (each field 1, times the page size of every list "
            f"above it); at most {MAX_COST}",
        )
    return None
