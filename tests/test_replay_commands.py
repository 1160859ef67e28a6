"""Replay defence and the high-impact command guard, unit by unit."""

from __future__ import annotations

import pytest

from amisys.security.commands import BusinessRecords, CommandGuard, CommandRefused, RateThreshold
from amisys.security.replay import Counter, ReplayError, ReplayGuard

NOW = 1_800_000_000 * 10**9


def guard(window: int = 8) -> ReplayGuard:
    return ReplayGuard(window=window, max_age_s=300, max_skew_s=30, clock_ns=lambda: NOW)


def accept(g: ReplayGuard, counter: int, sender: str = "meter:1", lane: int = 2) -> None:
    g.check(sender, lane, counter, NOW)
    g.record(sender, lane, counter)


def test_in_order_and_reordered_within_window() -> None:
    g = guard()
    for c in (1, 2, 5, 3, 4):
        accept(g, c)
    with pytest.raises(ReplayError, match="replayed message from meter:1: counter 3 already seen"):
        g.check("meter:1", 2, 3, NOW)


def test_rolled_back_beyond_window_and_reset() -> None:
    g = guard(window=8)
    accept(g, 100)
    with pytest.raises(ReplayError, match="counter rolled back by meter:1: 92 is 8 below 100"):
        g.check("meter:1", 2, 92, NOW)
    accept(g, 93)
    with pytest.raises(ReplayError, match="counter reset to 0"):
        g.check("meter:1", 2, 0, NOW)


def test_counters_are_per_sender_and_lane() -> None:
    g = guard()
    accept(g, 5)
    accept(g, 5, sender="meter:2")
    accept(g, 5, lane=0)


def test_freshness_window() -> None:
    g = guard()
    with pytest.raises(ReplayError, match="stale message"):
        g.check("meter:1", 2, 1, NOW - 301 * 10**9)
    with pytest.raises(ReplayError, match="in the future"):
        g.check("meter:1", 2, 1, NOW + 31 * 10**9)
    g.check("meter:1", 2, 1, NOW - 299 * 10**9)


def test_check_without_record_does_not_move_the_window() -> None:
    g = guard()
    g.check("meter:1", 2, 50, NOW)
    accept(g, 1)
    accept(g, 2)


def test_counter_starts_at_one_per_lane() -> None:
    c = Counter()
    assert [c.next(2), c.next(2), c.next(0)] == [1, 2, 1]


@pytest.fixture
def clock() -> list[int]:
    return [NOW]


@pytest.fixture
def records(clock) -> BusinessRecords:
    r = BusinessRecords(clock_ns=lambda: clock[0])
    r.open("service-order", "SO-1", "cis", targets={"meter:1", "meter:2"})
    r.open("dr-event", "DR-7", "lms-drms", expires_ns=NOW + 3600 * 10**9)
    r.open("emergency", "EM-1", "operator:alice")
    return r


def test_business_record_must_fit(records, clock) -> None:
    assert records.authorize("SO-1", "EndDeviceControls", "meter:1").ref == "SO-1"
    with pytest.raises(CommandRefused, match="needs an authorizing emergency or service-order; none given"):
        records.authorize(None, "EndDeviceControls", "meter:1")
    with pytest.raises(CommandRefused, match="unknown business record 'SO-9'"):
        records.authorize("SO-9", "EndDeviceControls", "meter:1")
    with pytest.raises(CommandRefused, match="cannot be authorized by a dr-event"):
        records.authorize("DR-7", "EndDeviceControls", "meter:1")
    with pytest.raises(CommandRefused, match="does not cover meter:3"):
        records.authorize("SO-1", "EndDeviceControls", "meter:3")
    assert records.authorize("DR-7", "LoadControl", "esi:1").kind == "dr-event"
    clock[0] += 3601 * 10**9
    with pytest.raises(CommandRefused, match="expired"):
        records.authorize("DR-7", "LoadControl", "esi:1")
    records.close("EM-1")
    with pytest.raises(CommandRefused, match="closed"):
        records.authorize("EM-1", "MitigationCommand", "meter:1")


def test_burst_and_sliding_window(records, clock) -> None:
    g = CommandGuard(
        records, default=RateThreshold(burst=3, burst_s=60, total=5, window_s=86_400), clock_ns=lambda: clock[0]
    )
    assert [g.admit("EndDeviceControls", "SO-1", ["meter:1"]) for _ in range(3)] == [None, None, None]
    assert "burst: 3 EndDeviceControls in 60 s" in g.admit("EndDeviceControls", "SO-1", ["meter:1"])
    clock[0] += 61 * 10**9
    assert g.admit("EndDeviceControls", "SO-1", ["meter:1"]) is None
    clock[0] += 61 * 10**9
    assert g.admit("EndDeviceControls", "SO-1", ["meter:2"]) is None
    clock[0] += 61 * 10**9
    assert "sliding window: 5 EndDeviceControls" in g.admit("EndDeviceControls", "SO-1", ["meter:2"])


def test_second_approver(records) -> None:
    g = CommandGuard(records)
    held = g.hold("EndDeviceControls", "operator:mallory", "cis", "burst", item="cmd")
    with pytest.raises(CommandRefused, match="operator:mallory issued Q-000001 and cannot approve it"):
        g.approve(held.id, "operator:mallory")
    assert g.approve(held.id, "operator:alice").item == "cmd"
    with pytest.raises(CommandRefused, match="no quarantined command"):
        g.reject(held.id, "operator:bob")
