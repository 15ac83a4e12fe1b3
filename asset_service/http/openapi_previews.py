"""The OpenAPI entries of the previews (``routes/previews.py``): merged into the document by
``openapi.openapi_document``, kept apart so that they move as one block."""

from __future__ import annotations

from typing import Any

from asset_service.engine.preview_types import (
    DEFAULT_PICTURE_SIZE,
    DEFAULT_WAVEFORM_BUCKETS,
    MIN_WAVEFORM_BUCKETS,
    PICTURE_SIZES,
    STORED_WAVEFORM_BUCKETS,
)

Schema = dict[str, Any]


def preview_schemas() -> dict[str, Schema]:
    return {
        "Preview": {
            "type": "object",
            "description": "A preview of the current version (in the asset's `previews`).",
            "required": ["kind", "status", "media_type"],
            "properties": {
                "kind": {"type": "string", "examples": ["thumbnail", "poster", "waveform"]},
                "status": {"type": "string", "enum": ["pending", "ready", "failed"]},
                "media_type": {"type": "string", "examples": ["image/webp"]},
                "reason": {"type": "string", "description": "why it failed"},
                "variants": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer", "enum": list(PICTURE_SIZES)},
                            "bytes": {"type": "integer"},
                            "width": {"type": "integer"},
                            "height": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "PreviewPending": {
            "type": "object",
            "required": ["status", "kind", "version"],
            "properties": {
                "status": {"type": "string", "const": "pending"},
                "kind": {"type": "string"},
                "version": {"type": "integer"},
            },
        },
        "Waveform": {
            "type": "object",
            "required": ["duration", "sample_rate", "peaks"],
            "properties": {
                "duration": {"type": "number"},
                "sample_rate": {"type": "integer"},
                "peaks": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "items": {"type": "number", "minimum": -1, "maximum": 1},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
            },
        },
    }


def preview_paths(ref: Any, problems: Any, query: Any) -> dict[str, Schema]:
    """``ref(kind, name)``, ``problems(statuses)`` and ``query(name, text, schema)`` are the
    document's own helpers."""
    immutable = {
        "Cache-Control": {"schema": {"type": "string"}},
        "ETag": {"schema": {"type": "string"}},
    }
    parameters = [
        {"name": "asset_id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}},
        query("version", "an older version", {"type": "integer", "minimum": 1}),
        query(
            "size",
            f"pictures: the longest side (default {DEFAULT_PICTURE_SIZE})",
            {"type": "integer", "enum": list(PICTURE_SIZES)},
        ),
        query(
            "buckets",
            f"waveforms: peaks (default {DEFAULT_WAVEFORM_BUCKETS})",
            {
                "type": "integer",
                "minimum": MIN_WAVEFORM_BUCKETS,
                "maximum": STORED_WAVEFORM_BUCKETS,
            },
        ),
        query("expires", "a signed link's expiry (Unix time)", {"type": "integer"}),
        query("signature", "a signed link's signature", {"type": "string"}),
        ref("parameters", "CustomerId"),
    ]
    responses: Schema = {
        "200": {
            "description": "the preview: WEBP for pictures, JSON peaks for a waveform",
            "headers": immutable,
            "content": {
                "image/webp": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": ref("schemas", "Waveform")},
            },
        },
        "202": {
            "description": "being made: ask again after `Retry-After` seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": ref("schemas", "PreviewPending")}},
        },
        "304": {"description": "`If-None-Match` names this preview"},
        **problems("400 401 403 404 422 503"),
    }
    return {
        "/api/assets/{asset_id}/previews/{kind}": {
            "get": {
                "tags": ["Content"],
                "operationId": "getPreview",
                "summary": "A thumbnail, poster or waveform of a version",
                "description": "Access as for downloading the asset, or a signed link from "
                "`GET /api/assets/{asset_id}/url?preview=KIND&size=N`. `404` when the type "
                "has no such preview, `422` when making it failed (with the reason).",
                "parameters": parameters,
                "responses": responses,
                "security": [{"bearerAuth": []}, {}],
            }
        }
    }
