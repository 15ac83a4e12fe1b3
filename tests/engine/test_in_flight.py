"""The in-flight registry: a key stays registered until every holder of it has left."""

from __future__ import annotations

from asset_service.engine.dependencies import InFlight


def test_a_key_held_twice_stays_until_both_leave() -> None:
    in_flight = InFlight()
    with in_flight.assets.holding("a"):
        with in_flight.assets.holding("a"):
            assert "a" in in_flight.assets
        assert "a" in in_flight.assets
    assert "a" not in in_flight.assets
    assert in_flight.assets.snapshot() == frozenset()


def test_leaving_a_key_never_entered_is_harmless() -> None:
    in_flight = InFlight()
    in_flight.temp_blobs.leave("never")
    in_flight.temp_blobs.enter("kept")
    in_flight.temp_blobs.leave("never")
    assert in_flight.temp_blobs.snapshot() == frozenset({"kept"})


def test_the_kinds_are_separate() -> None:
    in_flight = InFlight()
    in_flight.upload_sessions.enter("x")
    assert "x" not in in_flight.temp_blobs and "x" not in in_flight.assets
