"""``python -m asset_service.http.gql``: the schema as docs/schema.graphql holds it."""

from ..routes.graphql import schema_sdl

print(schema_sdl(["audio", "document", "image", "video"]), end="")
