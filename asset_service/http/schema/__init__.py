"""The OpenAPI layer's parts: route declarations (``operation``), the typed models of bodies and
answers, shared parameters and replies, and the types → JSON Schema converter. ``openapi.py``
builds the document from them and the app's URL map."""

from . import bodies, parameters, records, replies
from .jsonschema import Meta
from .operation import (
    JSON,
    MULTIPART,
    Auth,
    Body,
    Header,
    Reply,
    header,
    operation,
    query,
    undocumented,
)

__all__ = [
    "JSON",
    "MULTIPART",
    "Auth",
    "Body",
    "Header",
    "Meta",
    "Reply",
    "bodies",
    "header",
    "operation",
    "parameters",
    "query",
    "records",
    "replies",
    "undocumented",
]
