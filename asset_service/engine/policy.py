"""Access policy, in one place so every route and the CLI agree.

Tenancy is absolute: an asset of another customer, or a private asset of another user, is
``NotFound`` — never ``Forbidden``, which would confirm that it exists. ``Forbidden`` is only for
a role that may see an asset but not do what it asked.
"""

from __future__ import annotations

from .errors import Forbidden, NotFound
from .model import Asset, Principal, Role, Visibility

_WRITERS = frozenset({Role.EDITOR, Role.ADMIN, Role.SERVICE})
_ADMINS = frozenset({Role.ADMIN, Role.SERVICE})


def is_admin(principal: Principal) -> bool:
    return bool(principal.roles & _ADMINS)


def can_write(principal: Principal) -> bool:
    return bool(principal.roles & _WRITERS)


def require_writer(principal: Principal) -> None:
    if not can_write(principal):
        raise Forbidden("this needs the editor or admin role")


def require_admin(principal: Principal) -> None:
    if not is_admin(principal):
        raise Forbidden("this needs the admin role")


def check_readable(
    principal: Principal | None, asset: Asset | None, *, include_deleted: bool = False
) -> Asset:
    """The asset if ``principal`` may see it, else ``NotFound``. ``principal`` is ``None`` for
    an anonymous request, which may read public assets only."""
    if asset is None:
        raise NotFound("no such asset")
    if principal is None:
        if asset.visibility is Visibility.PUBLIC and not asset.is_deleted:
            return asset
        raise NotFound("no such asset")
    if asset.customer_id != principal.customer_id:
        raise NotFound("no such asset")
    if (
        asset.visibility is Visibility.PRIVATE
        and asset.user_id != principal.user_id
        and not is_admin(principal)
    ):
        raise NotFound("no such asset")
    if asset.is_deleted and not (include_deleted and is_admin(principal)):
        raise NotFound("no such asset")
    return asset


def check_downloadable(
    principal: Principal | None, asset: Asset | None, version: int | None = None
) -> Asset:
    """The asset if ``principal`` may download the content of ``version`` (``None``: the
    current one): one it may read, or the current version of a public one whoever asks — a
    public asset's current bytes are public to every caller, with a token of any customer or
    none (its record, older versions and links are not: ``check_readable``, and anonymous
    callers never get older versions)."""
    if (
        asset is not None
        and asset.visibility is Visibility.PUBLIC
        and not asset.is_deleted
        and version in (None, asset.current_version)
    ):
        return asset
    if principal is None:
        raise NotFound("no such asset")
    return check_readable(principal, asset)


def check_writable(principal: Principal, asset: Asset | None) -> Asset:
    asset = check_readable(principal, asset)
    require_writer(principal)
    return asset
