"""Real-name data (实名登记) rests sealed: the database holds neither the name nor the ID number in
clear, screens get the masked forms without opening anything, and only open_profile opens them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mingbai.accounts.service import masked_profile, open_profile, save_profile
from mingbai.errors import InvalidInput
from mingbai.platform import Platform
from tests.helpers import ALICE


def test_sealed_at_rest_masked_on_screens(platform: Platform) -> None:
    with platform.uow() as ctx:
        save_profile(ctx, msisdn=ALICE, name="欧阳娜娜", id_type="id_card", id_number="650102200002022468")
    with platform.uow() as ctx:
        stored = " ".join(str(v) for v in ctx.conn.execute(text("SELECT * FROM subscriber_profile")).one())
        masked = masked_profile(ctx, ALICE)
        opened = open_profile(ctx, ALICE)
    assert "欧阳娜娜" not in stored and "650102200002022468" not in stored and "2022" not in stored.replace("2026", "")
    assert masked is not None and (masked.name, masked.id_number) == ("欧***", "6501**********2468")
    assert opened is not None and (opened.name, opened.id_number) == ("欧阳娜娜", "650102200002022468")


@pytest.mark.parametrize(
    ("name", "id_number", "id_type"),
    [
        ("张\x00三", "430102199001011234", "id_card"),
        ("张\ud800", "430102199001011234", "id_card"),
        ("", "430102199001011234", "id_card"),
        ("张三", "1" * 33, "id_card"),
        ("张三", "4301", "driving"),
    ],
)
def test_bad_profiles_refused(platform: Platform, name: str, id_number: str, id_type: str) -> None:
    with platform.uow() as ctx, pytest.raises(InvalidInput):
        save_profile(ctx, msisdn=ALICE, name=name, id_type=id_type, id_number=id_number)
