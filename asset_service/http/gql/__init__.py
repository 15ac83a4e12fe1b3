"""GraphQL at ``/graphql``: the REST API's assets, folders and stats in one round trip."""

from .execution import GRAPHQL_THREADS as GRAPHQL_THREADS
from .schema import build_schema as build_schema
