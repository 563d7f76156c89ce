"""Rate limits behind one small interface (issue 12): in this process by default, shared through
redis when ``MINGBAI_REDIS_URL`` is set (several ``mingbai serve`` workers count together).

Fixed windows: a key may be hit ``limit`` times per ``window`` seconds; the window is read from
the injected clock, so tests and simulations move it.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from mingbai.clock import Clock
from mingbai.errors import TooManyRequests


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window: int) -> int | None:
        """Count one use of ``key``; the seconds to wait when it is over ``limit``, else None."""
        ...


class LocalLimiter:
    """Counters in this process's memory (the embedded default: one process, no redis)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int, int], int] = {}

    def hit(self, key: str, *, limit: int, window: int) -> int | None:
        now = int(self._clock.now().timestamp())
        start = now - now % window
        with self._lock:
            if len(self._counts) > 100_000:  # forget finished windows
                self._counts = {k: v for k, v in self._counts.items() if k[2] + k[1] > now}
            n = self._counts.get((key, window, start), 0) + 1
            self._counts[(key, window, start)] = n
        return start + window - now if n > limit else None


class RedisLimiter:
    """The same windows, counted in redis (INCR + EXPIRE in one round trip)."""

    def __init__(self, url: str, clock: Clock) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError("MINGBAI_REDIS_URL is set but the redis package is not installed") from exc
        self._redis: Any = redis.Redis.from_url(url)
        self._clock = clock

    def hit(self, key: str, *, limit: int, window: int) -> int | None:
        now = int(self._clock.now().timestamp())
        start = now - now % window
        name = f"mingbai:rl:{key}:{window}:{start}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, window + 5)
        n, _ = pipe.execute()
        return start + window - now if int(n) > limit else None


def make_limiter(redis_url: str, clock: Clock) -> RateLimiter:
    return RedisLimiter(redis_url, clock) if redis_url else LocalLimiter(clock)


def enforce(limiter: RateLimiter, key: str, *, limit: int, window: int, what: str) -> None:
    """Raise 429 (with Retry-After) when ``key`` is over ``limit`` per ``window`` seconds; 0 = no limit."""
    if limit <= 0:
        return
    wait = limiter.hit(key, limit=limit, window=window)
    if wait is not None:
        raise TooManyRequests(f"{what}: at most {limit} per {window} s; try again in {wait} s", retry_after=wait)
