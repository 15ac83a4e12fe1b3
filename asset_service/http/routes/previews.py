"""``/api/assets/{id}/previews/{kind}``: thumbnails, posters and waveforms, and the signed
links an ``<img>`` can show them with.

``200`` with the bytes (a strong ``ETag``; a version's preview never changes, so with
``?version=`` or by a signed link an immutable ``Cache-Control``, and without ``version`` —
the current version's, which the next version changes — ``no-cache``), ``202`` with
``Retry-After`` while it is being made, ``404`` when the type has no such preview, ``422``
when it failed (with the reason). Access as for a download of the asset; a signed link is
bound to its asset, version, kind, size and link epoch.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, request

from asset_service.engine import Asset, AssetQuery, Page
from asset_service.engine.errors import InvalidInput, NotFound
from asset_service.engine.preview_access import FoundPreview
from asset_service.engine.preview_types import (
    DEFAULT_PICTURE_SIZE,
    DEFAULT_WAVEFORM_BUCKETS,
    MIN_WAVEFORM_BUCKETS,
    PICTURE_SIZES,
    STORED_WAVEFORM_BUCKETS,
    PreviewState,
    PreviewStatus,
    merge_peaks,
)

from ..context import caller, optional_caller, services
from ..links import LinkBuilder
from ..params import asset_id_from_path, parse_decimal
from ..problems import HTTPProblem, problem_response, unauthorized
from ..query import page_json
from ..responses import json_response
from ..schema import Auth, Header, Reply, operation, records
from ..schema import parameters as param
from ..signing import NO_SIZE, Grant, link_cache_control, preview_subject

blueprint = Blueprint("previews", __name__)

#: a version's preview (``?version=``) fetched with a token, or anonymously (public assets)
IMMUTABLE = "private, max-age=31536000, immutable"
#: seconds a client is asked to wait before asking again for a pending preview
RETRY_AFTER = 2


def is_picture(state: PreviewState) -> bool:
    return state.media_type.startswith("image/")


def preview_json(state: PreviewState) -> dict[str, Any]:
    """One preview as the asset JSON lists it."""
    document: dict[str, Any] = {
        "kind": state.kind,
        "status": state.status.value,
        "media_type": state.media_type,
    }
    if state.reason:
        document["reason"] = state.reason
    if state.status == PreviewStatus.READY:
        document["variants"] = [
            {
                key: value
                for key, value in {
                    "size": int(v.variant) if v.variant.isdigit() else None,
                    "bytes": v.size,
                    "width": v.width,
                    "height": v.height,
                }.items()
                if value is not None
            }
            for v in state.variants
        ]
    return document


async def with_previews(asset: Asset, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (the asset JSON) with the current version's previews."""
    states = await services().engine.previews.of_version(asset)
    document["previews"] = [preview_json(state) for state in states]
    return document


async def page_with_previews(page: Page, query: AssetQuery) -> dict[str, Any]:
    """A page of assets as JSON, each with its current version's previews (a grid draws its
    thumbnails from them). One catalog read per asset: pages are at most 500."""
    document = page_json(page, query)
    for asset, item in zip(page.items, document["items"], strict=True):
        await with_previews(asset, item)
    return document


# --- signed links --------------------------------------------------------------------------


async def preview_link(asset_id: str) -> Response:
    """``GET /api/assets/{id}/url?preview=KIND[&size=N][&version=N][&expires=S]``: at once,
    even while the preview is pending. Always pinned to a version (the current one unless
    ``version`` says otherwise): a version's preview never changes, so caches keep it."""
    kind = request.args.get("preview", "")
    builder = LinkBuilder(services().engine, services().links, services().settings.public_url)
    seconds = builder.signer.expires_seconds(request.args.get("expires"))
    found = await services().engine.previews.find(
        caller(), asset_id, kind, _version(), for_link=True
    )
    size = _variant(found.state) if is_picture(found.state) else NO_SIZE
    url, expires_at = builder.preview_link(
        asset_id, found.version.version, kind, size, found.asset.link_epoch, seconds
    )
    return json_response({"url": url, "expires_at": expires_at})


async def _linked(asset_id: str, kind: str) -> tuple[FoundPreview, Grant]:
    """The preview a signed link names, or ``403`` for a forged, altered (other kind or size),
    expired or revoked link. The kind and size are checked against the signature before
    anything is looked up."""
    grant = services().links.verify(
        "preview",
        asset_id,
        version=request.args.get("version", ""),  # a preview link always names its version
        subject=preview_subject(kind, request.args.get("size", NO_SIZE)),
        expires=request.args.get("expires"),
        epoch=request.args.get("epoch"),
        signature=request.args.get("signature", ""),
    )
    found = await services().engine.previews.find(None, asset_id, kind, grant.version, linked=True)
    if grant.epoch != found.asset.link_epoch:
        raise HTTPProblem(403, "Forbidden", "the link was revoked: the asset was deleted")
    return found, grant


# --- the preview ---------------------------------------------------------------------------


def _version() -> int | None:
    raw = request.args.get("version")
    if raw is None:
        return None
    number = parse_decimal(raw)
    if number is None or number < 1:
        raise InvalidInput("version must be a positive integer")
    return number


def _variant(state: PreviewState) -> str:
    """The variant the query names: a picture's ``size`` (default 256), else the only one."""
    raw = request.args.get("size")
    if not is_picture(state):
        if raw is not None:
            raise InvalidInput(f"size applies to pictures; a {state.kind} has none")
        return state.variants[0].variant if state.variants else "-"
    if raw is None:
        return str(DEFAULT_PICTURE_SIZE)
    size = parse_decimal(raw)
    if size not in PICTURE_SIZES:
        raise InvalidInput(f"size must be one of {', '.join(map(str, PICTURE_SIZES))}")
    return str(size)


def _buckets(state: PreviewState) -> int | None:
    raw = request.args.get("buckets")
    if state.kind != "waveform":
        if raw is not None:
            raise InvalidInput(f"buckets applies to waveforms; a {state.kind} has none")
        return None
    if raw is None:
        return DEFAULT_WAVEFORM_BUCKETS
    buckets = parse_decimal(raw)
    if buckets is None or not MIN_WAVEFORM_BUCKETS <= buckets <= STORED_WAVEFORM_BUCKETS:
        raise InvalidInput(f"buckets must be {MIN_WAVEFORM_BUCKETS} to {STORED_WAVEFORM_BUCKETS}")
    return buckets


_PREVIEW_HEADERS = {
    "ETag": Header(str),
    "Cache-Control": Header(
        str,
        "with `version` (a token): `private, max-age=31536000, immutable`; without it (the "
        "current version's): `private, no-cache`; by a signed link: `public, "
        "max-age=<seconds to its expiry>, immutable`",
    ),
}


@blueprint.get("/api/assets/<asset_id>/previews/<kind>")
@operation(
    "Content",
    "getPreview",
    "A thumbnail, poster or waveform of a version",
    responses={
        200: Reply(
            "the preview: WEBP for pictures, JSON peaks for a waveform",
            headers=_PREVIEW_HEADERS,
            content={"image/webp": bytes, "application/json": records.Waveform},
        ),
        202: Reply(
            "being made: ask again after `Retry-After` seconds",
            records.PreviewPending,
            {"Retry-After": Header(int)},
        ),
        304: Reply("`If-None-Match` names this preview"),
    },
    problems=[400, 401, 403, 404, 422, 503],
    description="Access as for downloading the asset, or a signed link from "
    "`GET /api/assets/{asset_id}/url?preview=KIND&size=N`. `404` when the type has no such "
    "preview, `422` when making it failed (with the reason).",
    parameters=param.PREVIEW,
    auth=Auth.BEARER_OR_NONE,
)
async def preview(asset_id: str, kind: str) -> Response:
    asset_id = asset_id_from_path(asset_id)
    previews = services().engine.previews
    if "signature" in request.args:
        found, grant = await _linked(asset_id, kind)
        cache_control = link_cache_control(services().links, grant)
    else:
        principal = optional_caller()
        number = _version()
        try:
            found = await previews.find(principal, asset_id, kind, number)
        except NotFound:
            if principal is None:
                raise unauthorized("this needs 'Authorization: Bearer <token>'") from None
            raise
        # A version's preview never changes; "the current version's" does with the next
        # version, so it is revalidated (its ETag names the version's preview).
        cache_control = IMMUTABLE if number is not None else "private, no-cache"
    variant_name = _variant(found.state)
    buckets = _buckets(found.state)
    return await _answer(found, variant_name, buckets, cache_control)


async def _answer(
    found: FoundPreview, variant_name: str, buckets: int | None, cache_control: str
) -> Response:
    state = found.state
    if state.status == PreviewStatus.PENDING:
        response = json_response(
            {"status": "pending", "kind": state.kind, "version": state.version},
            202,
            {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"},
        )
        return response
    if state.status == PreviewStatus.FAILED:
        return problem_response(
            422,
            "Preview failed",
            f"the {state.kind} of version {state.version} could not be made: {state.reason}",
            {"Cache-Control": "no-store"},
        )
    variant = state.variant(variant_name)
    if variant is None:
        raise NotFound(f"the {state.kind} has no variant {variant_name}")
    etag = variant.etag if buckets is None else f'{variant.etag[:-1]}-b{buckets}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("If-None-Match"), etag):
        response = Response("", status=304)
        for name, value in headers.items():
            response.headers[name] = value
        return response
    body = await services().engine.previews.read(found, variant)
    if buckets is not None:
        document = json.loads(body)
        document["peaks"] = merge_peaks(document["peaks"], buckets)
        body = json.dumps(document, separators=(",", ":")).encode()
    response = Response(body, status=200, content_type=state.media_type)
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates
