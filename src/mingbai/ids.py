"""Row identifiers: 53-bit, time-ordered, generated without a database round trip.

Milliseconds since 2023 in the high bits (so "newest first" is an index scan) and 12 low
bits that start random and count up within a millisecond. Ids fit in 53 bits so JSON
clients in JavaScript read them exactly. Within one process ids strictly increase; across
processes a clash would need the same MSISDN (every key includes it), the same
millisecond and the same random start, while per-subscriber work is serialised by a lock.
"""

from __future__ import annotations

import secrets
import threading
import time

#: the largest id a client may name: ids are 63-bit at most (BIGINT), 53-bit in practice
MAX_ID = 2**63 - 1
_EPOCH_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
_lock = threading.Lock()
_last = 0


def reserve_ids(count: int) -> int:
    """Reserve ``count`` consecutive ids and return the first (for set-based inserts)."""
    global _last
    with _lock:
        candidate = ((time.time_ns() // 1_000_000 - _EPOCH_MS) << 12) | secrets.randbits(12)
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate + count - 1
        return candidate


def new_id() -> int:
    return reserve_ids(1)
