"""Access policy (tenancy is a 404, never a 403) and the validation of user fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from asset_service.engine import fields, policy
from asset_service.engine.errors import Forbidden, InvalidInput, NotFound
from asset_service.engine.model import (
    Asset,
    Metadata,
    Principal,
    Role,
    Storage,
    Visibility,
)

from .conftest import ADMIN, EDITOR, OUTSIDER, VIEWER

BOB = Principal("bob", "acme", frozenset({Role.EDITOR}))
SERVICE = Principal("billing", "acme", frozenset({Role.SERVICE}))


def asset(visibility=Visibility.CUSTOMER, deleted=False, owner="alice") -> Asset:
    return Asset(
        asset_id="7f1c1a52-9a55-4c41-9d1d-2f2d3b8a0c11",
        customer_id="acme",
        user_id=owner,
        type="document",
        name="a",
        original_filename="a.txt",
        mime_type="text/plain",
        size=1,
        storage=Storage("document-assets", "acme/x/v1"),
        checksum="0" * 64,
        metadata=Metadata(),
        visibility=visibility,
        deleted_at=datetime(2026, 1, 1, tzinfo=UTC) if deleted else None,
    )


@pytest.mark.parametrize("who", [EDITOR, BOB, VIEWER, ADMIN, SERVICE])
def test_every_user_of_the_customer_reads_customer_assets(who):
    assert policy.check_readable(who, asset()) is not None


def test_another_customer_gets_not_found_even_as_admin():
    with pytest.raises(NotFound):
        policy.check_readable(OUTSIDER, asset())


def test_private_assets_are_for_the_owner_and_admins():
    private = asset(Visibility.PRIVATE)
    assert policy.check_readable(EDITOR, private)
    assert policy.check_readable(ADMIN, private)
    with pytest.raises(NotFound):
        policy.check_readable(BOB, private)
    with pytest.raises(NotFound):
        policy.check_readable(VIEWER, private)


def test_anonymous_callers_read_only_live_public_assets():
    assert policy.check_readable(None, asset(Visibility.PUBLIC))
    for hidden in (asset(), asset(Visibility.PRIVATE), asset(Visibility.PUBLIC, deleted=True)):
        with pytest.raises(NotFound):
            policy.check_readable(None, hidden)


def test_deleted_assets_are_seen_only_by_admins_who_ask():
    gone = asset(deleted=True)
    with pytest.raises(NotFound):
        policy.check_readable(ADMIN, gone)
    with pytest.raises(NotFound):
        policy.check_readable(EDITOR, gone, include_deleted=True)
    assert policy.check_readable(ADMIN, gone, include_deleted=True)


def test_viewers_may_not_write_and_editors_are_not_admins():
    with pytest.raises(Forbidden):
        policy.check_writable(VIEWER, asset())
    assert policy.check_writable(EDITOR, asset())
    with pytest.raises(Forbidden):
        policy.require_admin(EDITOR)
    policy.require_admin(SERVICE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("/", "/"), ("", "/"), ("/podcasts/2026", "/podcasts/2026"), ("/a/b/", "/a/b")],
)
def test_folders_normalise(raw, expected):
    assert fields.normalize_folder(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["a/b", "/a//b", "/a/../b", "/./a", "/a\\b", "/a\x00b", "/a\nb", "/ a", "/" + "x" * 300],
)
def test_bad_folders_are_refused(raw):
    with pytest.raises(InvalidInput):
        fields.normalize_folder(raw)


def test_tags_are_trimmed_lowercased_and_deduplicated():
    assert fields.normalize_tags(fields.parse_tag_list(" Jazz, live ,jazz,,")) == ("jazz", "live")
    with pytest.raises(InvalidInput):
        fields.normalize_tags(["x" * 65])
    with pytest.raises(InvalidInput):
        fields.normalize_tags([f"t{n}" for n in range(101)])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\song.mp3", "song.mp3"),
        ("na\x00me\x1b.txt", "name.txt"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("naïve résumé.txt", "naïve résumé.txt"),
    ],
)
def test_client_file_names_are_reduced_to_a_display_name(raw, expected):
    assert fields.clean_filename(raw) == expected


def test_visibility_and_custom_are_checked():
    assert fields.parse_visibility(" Public ") is Visibility.PUBLIC
    with pytest.raises(InvalidInput):
        fields.parse_visibility("everyone")
    with pytest.raises(InvalidInput):
        fields.check_custom(["not", "an", "object"])
    with pytest.raises(InvalidInput):
        fields.check_custom({"big": "x" * 20_000})
