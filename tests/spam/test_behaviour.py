"""Sliding-window sender behaviour and near-duplicate burst counters."""

from __future__ import annotations

from mingbai.spam.behaviour import BehaviourTracker

T0 = 1_775_786_400.0  # on a whole hour


def test_rate_per_minute_slides():
    t = BehaviourTracker()
    for i in range(30):
        rate, _, _ = t.observe("13800138000", f"1390000{i:04d}", None, T0 + i)
    assert rate == 30
    # 30 s into the next minute half of the previous minute still counts
    rate, _, _ = t.observe("13800138000", "13900000000", None, T0 + 90)
    assert rate == 1 + 30 * 0.5
    # two minutes later nothing of it is left
    rate, _, _ = t.observe("13800138000", "13900000000", None, T0 + 185)
    assert rate == 1


def test_distinct_recipients_per_hour():
    t = BehaviourTracker()
    for i in range(50):
        _, fanout, _ = t.observe("13800138000", "13900139000", None, T0 + i)
    assert fanout == 1  # the same recipient again and again is one
    for i in range(50):
        _, fanout, _ = t.observe("13800138000", f"1390000{i:04d}", None, T0 + 100 + i)
    assert fanout == 51


def test_bursts_count_distinct_recipients_across_senders():
    t = BehaviourTracker(burst_window_seconds=600)
    band = ((1, 2), (3, 4))
    for i in range(20):
        _, _, burst = t.observe(f"1380000{i:04d}", f"1390000{i:04d}", band, T0 + i)
    assert burst == 20
    _, _, other = t.observe("13800000099", "13900000099", ((5, 6), (7, 8)), T0 + 30)
    assert other == 1
    # one shared band is enough
    _, _, burst = t.observe("13800000098", "13900000098", ((9, 9), (3, 4)), T0 + 31)
    assert burst == 21


def test_old_windows_are_swept():
    t = BehaviourTracker()
    for i in range(100):
        t.observe(f"1380000{i:04d}", "13900139000", ((i, i), (i, i)), T0 + i)
    assert len(t) == 100
    t.observe("13800138000", "13900139000", None, T0 + 3 * 3600)
    assert len(t) == 1
