"""Spam SMS governance (R12): inline interception, port and sender rules, 10086999 reports,
a review queue and versioned strategies.

Library use::

    from mingbai.spam import Message, filter_for
    decision = filter_for(platform).check(Message("13800138000", "13900139000", "…", "person"))
    decision.verdict, decision.score, decision.reasons, decision.strategy_version

or, without a database, the shipped model and default strategy::

    from mingbai.spam import default_engine
    default_engine().check(Message(...), now=time.time())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mingbai.spam.engine import Decision, Message, PortInfo, Snapshot, SpamEngine

if TYPE_CHECKING:
    from mingbai.db import PlatformLike
    from mingbai.spam.runtime import LiveFilter

__all__ = ["Decision", "Message", "PortInfo", "Snapshot", "SpamEngine", "default_engine", "filter_for"]


def default_engine() -> SpamEngine:
    """An engine on the shipped model and the default strategy, with no ports registered."""
    from mingbai.spam.model import load_model, shipped_version
    from mingbai.spam.rules import Strategy

    version = shipped_version()
    return SpamEngine(Snapshot(Strategy(version=1, model_version=version), load_model(version)))


def filter_for(platform: PlatformLike) -> LiveFilter:
    """The platform's live filter: database-backed strategy, ports and marked senders."""
    from mingbai.spam.runtime import filter_for as _filter_for

    return _filter_for(platform)
