"""Shared fixtures of the spam tests: the shipped model and an engine on it."""

from __future__ import annotations

import pytest

from mingbai.spam.engine import PortInfo, Snapshot, SpamEngine
from mingbai.spam.model import ContentModel, load_model, shipped_version
from mingbai.spam.rules import Strategy

SPAM_TEXT = "急用钱，找宜信。无抵押，无担保，信用贷款。资料简单，2~3天放款。咨询电话：18657495775【杜经理】"
HAM_TEXT = "明天的会议改到下午三点，请准时参加"
NOW = 1_775_786_400.0  # 2026-04-10 10:00 Shanghai


@pytest.fixture(scope="session")
def model() -> ContentModel:
    return load_model(shipped_version())


@pytest.fixture
def make_engine(model: ContentModel):
    def build(ports: dict[str, PortInfo] | None = None, senders: dict[str, str] | None = None, **changes) -> SpamEngine:
        strategy = Strategy(version=changes.pop("version", 1), model_version=model.version, **changes)
        return SpamEngine(Snapshot(strategy, model, ports or {}, senders or {}))

    return build
