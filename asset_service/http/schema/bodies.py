"""What the API takes in request bodies, as typed models: the JSON of metadata edits, folders and
moves, and the fields of a multipart upload. The routes parse and check bodies themselves
(strictly, into problem documents); these say what they accept, with the same limits."""

# (no ``from __future__ import annotations``: a TypedDict reads Required/NotRequired at runtime)
from typing import Annotated, Any, Required, TypedDict

from asset_service.engine import fields as field_rules

from ..multipart import MAX_FIELD_BYTES
from .jsonschema import AssetTypes, Meta, closed
from .records import Uuid, Visibility

JSON = "application/json"

#: the most asset ids one move takes
MAX_MOVE = 1000

_SEGMENTS = r"(/[^/\\\u0000-\u001f\u007f-\u009f]+)+/?"
_FOLDER_RULES = (
    "an absolute path such as `/podcasts/2026`: no empty, `.` or `..` segments, no backslashes "
    f"or control characters, segments of at most {field_rules.MAX_FOLDER_SEGMENT} characters; "
)
#: a folder path as every route takes it (the pattern is the gist; the rules are in the text)
FolderPath = Annotated[
    str,
    Meta(
        pattern=f"^(/|{_SEGMENTS})$",
        max_length=field_rules.MAX_FOLDER,
        description=_FOLDER_RULES + "`/` is the root",
    ),
]
#: where an empty value means the root
FolderOrEmpty = Annotated[
    str,
    Meta(
        pattern=f"^(/?|{_SEGMENTS})$",
        max_length=field_rules.MAX_FOLDER,
        description=_FOLDER_RULES + "`/` is the root",
    ),
]
#: a folder to create: not the root, which always exists
_NewFolderPath = Annotated[
    str,
    Meta(
        pattern=f"^{_SEGMENTS}$",
        max_length=field_rules.MAX_FOLDER,
        description=_FOLDER_RULES + "not the root `/`",
        examples=["/podcasts/2026"],
    ),
]
_AssetTypeName = Annotated[str, AssetTypes()]


@closed
class AssetUpdate(TypedDict, total=False):
    """A partial update: only the fields sent change. `null` clears title, description and
    category. Unknown fields or wrong JSON types are a 400."""

    name: Annotated[str, Meta(min_length=1, max_length=field_rules.MAX_NAME)]
    title: Annotated[str, Meta(max_length=field_rules.MAX_TITLE)] | None
    description: Annotated[str, Meta(max_length=field_rules.MAX_DESCRIPTION)] | None
    tags: Annotated[
        list[Annotated[str, Meta(max_length=field_rules.MAX_TAG)]],
        Meta(max_items=field_rules.MAX_TAGS),
    ]
    folder: FolderPath
    category: Annotated[str, Meta(max_length=field_rules.MAX_CATEGORY)] | None
    custom: dict[str, Any]
    visibility: Visibility


@closed
class NewFolder(TypedDict):
    path: _NewFolderPath


@closed
class Move(TypedDict):
    asset_ids: Annotated[list[Uuid], Meta(min_items=1, max_items=MAX_MOVE)]
    folder: FolderPath


@closed
class Upload(TypedDict, total=False):
    """The file and what to say about it. Text fields are at most {kib} KiB each."""

    file: Required[
        Annotated[
            bytes, Meta(description="the bytes; their content decides the type, not the name")
        ]
    ]
    name: Annotated[str, Meta(max_length=field_rules.MAX_NAME)]
    title: Annotated[str, Meta(max_length=field_rules.MAX_TITLE)]
    description: Annotated[str, Meta(max_length=field_rules.MAX_DESCRIPTION)]
    tags: Annotated[str, Meta(description="comma-separated")]
    folder: Annotated[FolderOrEmpty, Meta(default="/")]
    category: Annotated[str, Meta(max_length=field_rules.MAX_CATEGORY)]
    custom: Annotated[str, Meta(content_media_type=JSON, description="a JSON object")]
    visibility: Visibility
    type: Annotated[_AssetTypeName, Meta(description="the type the bytes must be (else 415)")]


Upload.__doc__ = (Upload.__doc__ or "").format(kib=MAX_FIELD_BYTES // 1024)


@closed
class NewVersion(TypedDict, total=False):
    file: Required[bytes]
    type: _AssetTypeName


#: the fields of an upload besides its bytes (a tus upload sends them as ``Upload-Metadata``)
FORM_FIELDS = tuple(name for name in Upload.__annotations__ if name != "file")
