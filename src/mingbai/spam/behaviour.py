"""Sender behaviour: messages per minute, distinct recipients per hour, near-duplicate bursts.

State lives in the process that intercepts (one SMSC hook instance per node), in sliding
window counters: the current fixed window plus the previous one weighted by how much of it
still overlaps the sliding window. That costs two integers and a set per sender, not a
timestamp per message. Windows older than the previous one are swept away when a new window
starts, so memory follows the traffic of the last two windows.

Pure in the sense of the conventions: no database, no clock — ``now`` (seconds since the
epoch) comes in with every observation.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable


class _Sender:
    __slots__ = ("hour", "minute", "n_cur", "n_prev", "r_cur", "r_prev")

    def __init__(self, minute: int, hour: int) -> None:
        self.minute = minute
        self.n_cur = 0
        self.n_prev = 0
        self.hour = hour
        self.r_cur: set[str] = set()
        self.r_prev = 0


class _Burst:
    __slots__ = ("r_cur", "r_prev", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.r_cur: set[str] = set()
        self.r_prev = 0


class BehaviourTracker:
    """Sliding-window counters per sender and per near-duplicate signature."""

    def __init__(self, burst_window_seconds: int = 600) -> None:
        self.burst_window = burst_window_seconds
        self._senders: dict[str, _Sender] = {}
        self._bursts: dict[Hashable, _Burst] = {}
        self._swept_hour = -1
        self._swept_window = -1

    def __len__(self) -> int:
        return len(self._senders)

    def observe(
        self, sender: str, recipient: str, bands: Iterable[Hashable] | None, now: float
    ) -> tuple[float, float, float]:
        """Count one message; return (messages per minute, distinct recipients per hour,
        distinct recipients of near-duplicates of this text in the burst window)."""
        minute = int(now // 60)
        hour = int(now // 3600)
        if hour != self._swept_hour:
            self._sweep_senders(hour)
        st = self._senders.get(sender)
        if st is None:
            st = self._senders[sender] = _Sender(minute, hour)
        if minute != st.minute:
            st.n_prev = st.n_cur if minute == st.minute + 1 else 0
            st.n_cur = 0
            st.minute = minute
        st.n_cur += 1
        if hour != st.hour:
            st.r_prev = len(st.r_cur) if hour == st.hour + 1 else 0
            st.r_cur = set()
            st.hour = hour
        st.r_cur.add(recipient)
        per_minute = st.n_cur + st.n_prev * (1.0 - (now % 60) / 60)
        per_hour = len(st.r_cur) + st.r_prev * (1.0 - (now % 3600) / 3600)
        burst = 0.0
        if bands is not None:
            span = self.burst_window
            window = int(now // span)
            if window != self._swept_window:
                self._sweep_bursts(window)
            overlap = 1.0 - (now % span) / span
            for key in bands:
                b = self._bursts.get(key)
                if b is None:
                    b = self._bursts[key] = _Burst(window)
                elif window != b.window:
                    b.r_prev = len(b.r_cur) if window == b.window + 1 else 0
                    b.r_cur = set()
                    b.window = window
                b.r_cur.add(recipient)
                seen = len(b.r_cur) + b.r_prev * overlap
                if seen > burst:
                    burst = seen
        return per_minute, per_hour, burst

    def _sweep_senders(self, hour: int) -> None:
        stale = [k for k, st in self._senders.items() if st.hour < hour - 1]
        for k in stale:
            del self._senders[k]
        self._swept_hour = hour

    def _sweep_bursts(self, window: int) -> None:
        stale = [k for k, b in self._bursts.items() if b.window < window - 1]
        for k in stale:
            del self._bursts[k]
        self._swept_window = window
