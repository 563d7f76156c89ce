"""Vault fixtures: staff with phones (two approvers), ALICE's CDRs and locations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from argon2 import PasswordHasher

from mingbai.accounts import service as accounts
from mingbai.accounts.demo import seed_demo_accounts
from mingbai.platform import Platform
from mingbai.vault import service as vault
from tests.helpers import ALICE, BOB

#: each staff user's own phone (none is a subscriber's)
PHONES = {
    "agent": "13600000010",
    "hall": "13600000011",
    "supervisor": "13600000012",
    "operator": "13600000013",
    "security": "13600000001",
    "security2": "13600000002",
}
#: the platform clock's day (tests/conftest.DEFAULT_NOW)
TODAY = date(2026, 4, 10)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)


@pytest.fixture
def staffed(platform: Platform) -> Platform:
    return staff_up(platform)


@pytest.fixture
def pg_staffed(pg_platform: Platform) -> Platform:
    return staff_up(pg_platform)


def staff_up(platform: Platform) -> Platform:
    with platform.uow() as ctx:
        seed_demo_accounts(ctx)
        for name, phone in PHONES.items():
            accounts.set_contact(ctx, username=name, phone=phone, unit="长沙分公司" if name == "hall" else None)
        cdr_rows, loc_rows = vault.demo_records([ALICE, BOB], start=TODAY - timedelta(days=6), days=7)
        vault.load_cdrs(ctx, cdr_rows)
        vault.load_locations(ctx, loc_rows)
    return platform


def staff(platform: Platform, username: str, via: str = "cli") -> vault.Staff:
    with platform.uow() as ctx:
        return vault.staff_by_username(ctx, username, via=via)
