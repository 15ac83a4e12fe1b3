"""Validation of the user-supplied fields of an asset. Folder paths, names and tags are data
only — none ever becomes a filesystem path — but they are still held to a strict shape so that
they display, sort and filter predictably."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput
from .model import Visibility

MAX_NAME = 255
MAX_TITLE = 500
MAX_DESCRIPTION = 10_000
MAX_TAGS = 100
MAX_TAG = 64
MAX_FOLDER = 1024
MAX_FOLDER_SEGMENT = 255
MAX_CATEGORY = 100
MAX_CUSTOM_BYTES = 16_384
#: how deeply JSON a client sends may nest (MongoDB refuses documents past 100 levels)
MAX_JSON_DEPTH = 32
#: a customer id names a tenant and is the first segment of its storage keys: letters, digits
#: and ``._-``, starting with a letter or digit, at most 64 characters (no ``/``, ``..``,
#: spaces or control characters can reach a key or a log line)
CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_customer_id(value: object) -> bool:
    return isinstance(value, str) and CUSTOMER_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class NewAssetFields:
    """What a client may say about a new asset besides its bytes."""

    name: str | None = None
    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    folder: str = "/"
    category: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    visibility: Visibility = Visibility.CUSTOMER


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def clean_text(value: str, what: str, limit: int, *, multiline: bool = False) -> str:
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in value):
        raise InvalidInput(f"{what} contains control characters")
    return value


def normalize_folder(value: str) -> str:
    """``/podcasts/2026`` style: absolute, no empty, ``.`` or ``..`` segments, no backslashes
    or control characters; a trailing slash is dropped. ``/`` is the root."""
    if not isinstance(value, str):
        raise InvalidInput("folder must be a string")
    if value == "" or value == "/":
        return "/"
    if not value.startswith("/"):
        raise InvalidInput("folder must be an absolute path such as /podcasts/2026")
    if len(value) > MAX_FOLDER:
        raise InvalidInput(f"folder is longer than {MAX_FOLDER} characters")
    if "\\" in value or _has_control(value):
        raise InvalidInput("folder contains a backslash or control characters")
    segments = value.rstrip("/").split("/")[1:]
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidInput("folder has an empty, '.' or '..' segment")
        if segment != segment.strip():
            raise InvalidInput("folder segments may not start or end with spaces")
        if len(segment) > MAX_FOLDER_SEGMENT:
            raise InvalidInput(f"a folder name is longer than {MAX_FOLDER_SEGMENT} characters")
    return "/" + "/".join(segments)


def parse_tag_list(value: str) -> list[str]:
    """Comma-separated tags as sent in multipart fields."""
    return [part for part in (p.strip() for p in value.split(",")) if part]


def normalize_tags(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Lower-cased, trimmed, de-duplicated in first-seen order."""
    seen: dict[str, None] = {}
    for raw in values:
        if not isinstance(raw, str):
            raise InvalidInput("tags must be strings")
        tag = clean_text(raw, "a tag", MAX_TAG).lower()
        if "," in tag:
            raise InvalidInput("a tag may not contain a comma")
        if tag:
            seen[tag] = None
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    return tuple(seen)


def clean_filename(value: str | None) -> str:
    """The client's file name for display and Content-Disposition: its last path segment,
    without control characters, at most ``MAX_NAME`` characters."""
    if not value:
        return "upload"
    base = value.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    if base in ("", ".", ".."):
        return "upload"
    return base[:MAX_NAME]


def parse_visibility(value: str) -> Visibility:
    try:
        return Visibility(value.strip().lower())
    except ValueError:
        choices = ", ".join(v.value for v in Visibility)
        raise InvalidInput(f"visibility must be one of {choices}") from None


def parse_json(raw: str | bytes, what: str = "the body") -> Any:
    """Strict JSON from a client: no duplicate keys (parsers disagree on which one wins), no
    ``NaN``/``Infinity`` (not JSON: every answer naming the value would be invalid JSON), no
    lone UTF-16 surrogates (no UTF-8 for them), at most ``MAX_JSON_DEPTH`` levels, numbers
    Python can read. Anything else is ``InvalidInput``, never an unexpected error."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise InvalidInput(f"{what} names the key {key[:80]!r} twice")
            found[key] = value
        return found

    def constant(name: str) -> Any:
        raise InvalidInput(f"{what} holds {name}, which is not JSON")

    def finite(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):  # 1e400 is valid JSON but becomes inf, which is not
            raise InvalidInput(f"{what} holds the number {text[:40]}, too large for a double")
        return number

    try:
        value = json.loads(
            raw, object_pairs_hook=unique, parse_constant=constant, parse_float=finite
        )
    except RecursionError:
        raise InvalidInput(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError):
        # JSONDecodeError, and numbers of more digits than int() takes
        raise InvalidInput(f"{what} must be JSON") from None
    check_json_value(value, what)
    return value


def check_json_value(value: Any, what: str) -> None:
    """At most ``MAX_JSON_DEPTH`` levels of arrays and objects, and text that UTF-8 can hold
    (no lone surrogates, which ``\\ud800`` escapes make). Iterative: no recursion limit."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidInput(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
            children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            for key, child in children:
                if key is not None:
                    _check_text(key, what)
                pending.append((child, depth + 1))
        elif isinstance(item, str):
            _check_text(item, what)


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} holds a lone UTF-16 surrogate (\\uD800-\\uDFFF)") from None


def check_custom(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("custom must be a JSON object")
    check_json_value(value, "custom")
    if len(json.dumps(value)) > MAX_CUSTOM_BYTES:
        raise InvalidInput(f"custom is larger than {MAX_CUSTOM_BYTES} bytes as JSON")
    return value


#: the fields ``PUT /api/assets/{id}`` may change, and the JSON type each takes
EDITABLE = ("name", "title", "description", "tags", "folder", "category", "custom", "visibility")


def metadata_changes(body: Any) -> dict[str, Any]:
    """Validate a partial update (a JSON object) into normalised values. ``null`` clears the
    optional text fields; ``name``, ``folder`` and ``visibility`` can't be cleared."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = set(body) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"unknown or read-only fields: {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {}
    limits = {"title": MAX_TITLE, "description": MAX_DESCRIPTION, "category": MAX_CATEGORY}
    for key, value in body.items():
        if key in limits:
            if value is None:
                changes[key] = None
                continue
            if not isinstance(value, str):
                raise InvalidInput(f"{key} must be a string or null")
            text = clean_text(value, key, limits[key], multiline=key == "description")
            changes[key] = text or None
        elif key == "name":
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput("name must be a non-empty string")
            changes[key] = clean_text(value, "name", MAX_NAME)
        elif key == "tags":
            if not isinstance(value, list):
                raise InvalidInput("tags must be an array of strings")
            changes[key] = list(normalize_tags(value))
        elif key == "folder":
            changes[key] = normalize_folder(value)
        elif key == "custom":
            changes[key] = dict(check_custom(value))
        elif key == "visibility":
            if not isinstance(value, str):
                raise InvalidInput("visibility must be a string")
            changes[key] = parse_visibility(value)
    return changes
