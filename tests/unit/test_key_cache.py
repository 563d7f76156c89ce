from __future__ import annotations

import time

from mingbai.auth.service import KeyCache, Principal, Role

P = Principal(1, Role.AGENT, "a")


def test_hits_expire_and_unknown_keys_are_not_kept() -> None:
    cache = KeyCache(ttl=0.05)
    calls: list[str] = []

    def load(result: Principal | None):
        def _load() -> Principal | None:
            calls.append("db")
            return result

        return _load

    assert cache.lookup("k", load(P)) == P
    assert cache.lookup("k", load(None)) == P  # within the ttl: no database visit
    assert calls == ["db"]
    time.sleep(0.06)
    assert cache.lookup("k", load(None)) is None  # revoked elsewhere: refused after the ttl
    assert cache.lookup("guess", load(None)) is None
    assert cache.lookup("guess", load(None)) is None
    assert calls == ["db", "db", "db", "db"]  # misses are asked every time, never cached


def test_clear_forgets_at_once() -> None:
    cache = KeyCache(ttl=60)
    cache.lookup("k", lambda: P)
    cache.clear()
    assert cache.lookup("k", lambda: None) is None
