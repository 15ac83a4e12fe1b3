"""The ``Upload-Concat`` header of tus's concatenation extension: ``partial`` on a partial
upload's creation; ``final;<url> <url>…`` on the final upload's, naming the partials by the URL
their ``Location`` gave — as that path or resolved to an absolute URL (what tus-js-client
sends). Anything else is refused (400): a client that asked for a concatenation must never get
an ordinary upload instead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from asset_service.engine import FINAL, MAX_PARTIALS, PARTIAL
from asset_service.engine.errors import InvalidInput
from asset_service.engine.model import UploadSession

UPLOADS_PATH = "/api/uploads/"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class UploadConcat:
    kind: str
    #: a final upload's partials, in order (upload ids)
    partials: tuple[str, ...] = ()


def parse_upload_concat(raw: str | None) -> UploadConcat | None:
    if raw is None:
        return None
    value = raw.strip()
    if value == PARTIAL:
        return UploadConcat(PARTIAL)
    kind, separator, urls = value.partition(";")
    if kind.strip() != FINAL or not separator:
        raise InvalidInput("Upload-Concat must be 'partial' or 'final;<partial upload URL> <URL>…'")
    names = urls.split()
    if not names:
        raise InvalidInput("Upload-Concat: final names no partial upload")
    if len(names) > MAX_PARTIALS:
        raise InvalidInput(f"a final upload may name at most {MAX_PARTIALS} partial uploads")
    return UploadConcat(FINAL, tuple(_upload_id_of(name) for name in names))


def _upload_id_of(url: str) -> str:
    """The upload id of ``/api/uploads/<id>`` or ``http(s)://host/…/api/uploads/<id>``. The
    host is not checked: the id is, against the caller's own uploads."""
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https") or parts.query or parts.fragment:
        raise InvalidInput(f"Upload-Concat: {url[:200]!r} is not a partial upload's URL")
    path = parts.path.rstrip("/")
    prefix, _, upload_id = path.rpartition("/")
    if not (prefix + "/").endswith(UPLOADS_PATH) or not _UPLOAD_ID.fullmatch(upload_id):
        raise InvalidInput(f"Upload-Concat: {url[:200]!r} is not a partial upload's URL")
    return upload_id


def upload_concat_header(session: UploadSession) -> str | None:
    """What ``HEAD`` answers in ``Upload-Concat`` for this session, if anything."""
    if session.concat == PARTIAL:
        return PARTIAL
    if session.concat == FINAL:
        return f"{FINAL};" + " ".join(f"{UPLOADS_PATH}{pid}" for pid in session.partials)
    return None
