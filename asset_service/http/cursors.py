"""Page cursors as clients see them: the catalog's cursor with an HMAC over it and the sort
field, so that a client can only hand back a cursor the service issued, for the same order.
The catalog still checks the shape of what it decodes (``engine.search.decode_cursor``)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from asset_service.engine.errors import InvalidInput

#: 128 bits of the HMAC, base64url without padding
MAC_CHARS = 22


def cursor_key(secret: str) -> bytes:
    """A key of its own, derived from the configured secret (never the link or token key)."""
    return hmac.new(secret.encode(), b"asset-service page cursors v1", hashlib.sha256).digest()


def _mac(key: bytes, sort_field: str, cursor: str) -> str:
    digest = hmac.new(key, f"{sort_field}\n{cursor}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def seal(key: bytes, sort_field: str, cursor: str | None) -> str | None:
    """The cursor a client is given for the catalog's ``cursor`` of a ``sort_field`` page."""
    if cursor is None:
        return None
    return f"{cursor}.{_mac(key, sort_field, cursor)}"


def unseal(key: bytes, sort_field: str, sealed: str) -> str:
    """The catalog's cursor inside ``sealed``, or 400 if the service did not issue it for
    this sort field."""
    cursor, _, mac = sealed.rpartition(".")
    expected = _mac(key, sort_field, cursor)
    # as bytes: compare_digest refuses str with non-ASCII characters
    if not cursor or not hmac.compare_digest(expected.encode(), mac.encode(errors="replace")):
        raise InvalidInput("invalid cursor (not one this service issued for this sort order)")
    return cursor
