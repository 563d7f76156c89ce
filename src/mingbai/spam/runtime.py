"""A filter bound to a platform: checks with the engine, reloads on change, records verdicts.

Strategy changes take effect without a restart: every change bumps a generation counter in
the database. A filter polls it at most every ``refresh_seconds`` (other processes' changes)
and at once after a commit in this process that changed something (a SQLAlchemy
``after_commit`` hook), then swaps in a new snapshot between two messages.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from mingbai.db import PlatformLike
from mingbai.spam import service
from mingbai.spam.engine import Decision, Message, SpamEngine

_FILTERS: weakref.WeakSet[LiveFilter] = weakref.WeakSet()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(service.CHANGED_FLAG, False):
        for live in list(_FILTERS):
            live.invalidate()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(service.CHANGED_FLAG, None)


class LiveFilter:
    def __init__(self, platform: PlatformLike, *, refresh_seconds: float | None = None) -> None:
        self.platform = platform
        if refresh_seconds is None:
            refresh_seconds = float(os.environ.get("MINGBAI_SPAM_REFRESH_SECONDS") or 1.0)
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._generation = -1
        self._next_poll = 0.0
        with platform.uow() as ctx:
            self._generation, snapshot = service.load_snapshot(ctx)
        self.engine = SpamEngine(snapshot)
        self._next_poll = time.monotonic() + refresh_seconds
        _FILTERS.add(self)

    def invalidate(self) -> None:
        self._next_poll = 0.0

    def refresh(self, *, force: bool = False) -> bool:
        """Reload if the generation moved (or ``force``); True when a new snapshot went in."""
        with self._lock:
            self._next_poll = time.monotonic() + self.refresh_seconds
            with self.platform.uow() as ctx:
                current = service.generation(ctx)
                if current == self._generation and not force:
                    return False
                self._generation, snapshot = service.load_snapshot(ctx)
            self.engine.install(snapshot)
            return True

    def check(self, msg: Message, *, at: float | None = None) -> Decision:
        """Decide one message (no storage); ``at`` defaults to the platform clock."""
        if time.monotonic() >= self._next_poll:
            self.refresh()
        now = at if at is not None else self.platform.clock.now().timestamp()
        return self.engine.check(msg, now)

    def record(self, msg: Message, decision: Decision) -> int | None:
        """Keep a block in the decision log or a grey message in the review queue."""
        if decision.verdict == "pass":
            return None
        with self.platform.uow() as ctx:
            return service.record_decision(ctx, msg, decision)

    def check_and_record(self, msg: Message) -> tuple[Decision, int | None]:
        decision = self.check(msg)
        return decision, self.record(msg, decision)

    def check_many_and_record(self, msgs: list[Message]) -> list[Decision]:
        """A batch in order; what must be kept is written in one transaction."""
        decisions = [self.check(m) for m in msgs]
        keep = [(m, d) for m, d in zip(msgs, decisions, strict=True) if d.verdict != "pass"]
        if keep:
            with self.platform.uow() as ctx:
                for m, d in keep:
                    service.record_decision(ctx, m, d)
        return decisions


_BY_PLATFORM: weakref.WeakKeyDictionary[PlatformLike, LiveFilter] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def filter_for(platform: PlatformLike, **kwargs: Any) -> LiveFilter:
    """The one live filter of a platform (built on first use)."""
    live = _BY_PLATFORM.get(platform)
    if live is None:
        with _GUARD:
            live = _BY_PLATFORM.get(platform)
            if live is None:
                live = _BY_PLATFORM[platform] = LiveFilter(platform, **kwargs)
    return live
