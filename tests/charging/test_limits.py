"""Plausibility limits (issue 12): amounts and quantities bounded, booleans are not numbers,
a reference is credited to one subscriber only, and a usage file cannot crash the parser."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from mingbai.auth.service import create_key
from mingbai.charging.ledger import credit
from mingbai.charging.models import Charge
from mingbai.charging.usage_csv import UsageFileError, parse_usage_csv
from mingbai.errors import Conflict, TooLarge
from mingbai.web.app import create_app
from tests.charging.test_usage_import import count, csv, game_subscription, load
from tests.helpers import ALICE, BOB


def test_a_per_use_quantity_beyond_the_limit_is_refused_with_its_line(platform):
    game_subscription(platform)
    with pytest.raises(UsageFileError, match=r"line 2: quantity of a vas record must be at most 1000"):
        load(platform, csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,2000000000,"))
    assert count(platform, Charge) == 0


def test_a_charge_beyond_the_limit_is_refused(platform):
    game_subscription(platform)  # 200 fen a use
    platform.settings = dataclasses.replace(platform.settings, max_charge_fen=1000)
    with pytest.raises(UsageFileError, match=r"line 2: the charge would be over 1000 fen"):
        load(platform, csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,6,"))
    load(platform, csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,5,"))
    assert count(platform, Charge) == 1


def test_a_file_over_the_import_limit_is_refused_before_it_is_parsed(platform):
    platform.settings = dataclasses.replace(platform.settings, max_import_bytes=1024)
    with pytest.raises(TooLarge, match="at most 1024 bytes"):
        load(platform, csv(*["D1,13800138000,2026-04-09T20:00:00+08:00,data,,1,"] * 40))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (csv("G1," + "x" * 200_000 + ",2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,"), "line 2: not a usage line"),
        (csv("G1,1380013\x008000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,"), "line 2: a NUL character"),
        ("\ufeff".encode() + csv("D1,13800138000,2026-04-09T20:00:00+08:00,data,,1,"), None),
    ],
)
def test_hostile_files_are_a_clear_refusal(data, why):
    if why is None:  # a BOM is fine: Excel writes one
        assert len(parse_usage_csv(data)) == 1
        return
    with pytest.raises(UsageFileError, match=why):
        parse_usage_csv(data)


def test_a_reference_is_credited_to_one_subscriber_only(platform):
    with platform.uow() as ctx:
        credit(ctx, msisdn=ALICE, kind="payment", amount_fen=2000, channel="bank", actor="bank", ref="B-77")
    with platform.uow() as ctx, pytest.raises(Conflict, match="already credited to another subscriber"):
        credit(ctx, msisdn=BOB, kind="payment", amount_fen=2000, channel="bank", actor="bank", ref="B-77")
    with platform.uow() as ctx:  # another ledger may use the same text
        credit(ctx, msisdn=BOB, kind="gift", amount_fen=100, channel="hall", actor="hall:li", ref="B-77")


def test_booleans_and_strings_are_not_money(platform):
    with platform.uow() as ctx:
        create_key(ctx, role="operator", label="op", key="op-key")
        create_key(ctx, role="hall", label="hall", key="hall-key")
    client = TestClient(create_app(platform))
    for amount in (True, "2000", 20.0):
        r = client.post(
            f"/api/v1/subscribers/{ALICE}/payments",
            json={"amount_fen": amount, "ref": "B-1"},
            headers={"X-API-Key": "hall-key"},
        )
        assert r.status_code == 422, (amount, r.text)
    service = {"code": "X-1", "sp": "SINA", "name": "x", "billing": "monthly", "price_fen": True}
    r = client.put("/api/v1/catalog/services/X-1", json=service, headers={"X-API-Key": "op-key"})
    assert r.status_code == 422, r.text
    r = client.put("/api/v1/catalog/services/X-1", json={**service, "price_fen": 1}, headers={"X-API-Key": "op-key"})
    assert r.status_code == 200, r.text
