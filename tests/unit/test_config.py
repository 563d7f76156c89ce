"""Settings read from the environment: defaults, values, and clear errors for bad ones."""

from __future__ import annotations

import pytest

from mingbai.config import Settings


def test_billing_workers_default_to_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINGBAI_BILLING_WORKERS", raising=False)
    assert Settings.from_env("sqlite://").billing_workers == 2


def test_billing_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINGBAI_BILLING_WORKERS", "4")
    assert Settings.from_env("sqlite://").billing_workers == 4


@pytest.mark.parametrize(("raw", "says"), [("0", "from 1 to 64"), ("65", "from 1 to 64"), ("two", "whole number")])
def test_bad_billing_workers_are_refused_by_name(monkeypatch: pytest.MonkeyPatch, raw: str, says: str) -> None:
    monkeypatch.setenv("MINGBAI_BILLING_WORKERS", raw)
    with pytest.raises(ValueError, match="MINGBAI_BILLING_WORKERS") as err:
        Settings.from_env("sqlite://")
    assert says in str(err.value)
