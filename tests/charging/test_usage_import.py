"""Usage files: per-use charges, whole-or-nothing, never twice; traffic alerts once each."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from mingbai.catalog.rules import SubscriberIn
from mingbai.catalog.service import save_subscriber
from mingbai.charging.models import Charge, UsageRecord
from mingbai.charging.service import list_charges
from mingbai.charging.usage import import_usage, mark_alerts
from mingbai.charging.usage_csv import UsageFileError, parse_usage_csv
from mingbai.clock import SHANGHAI
from mingbai.config import Settings
from mingbai.messaging.models import OutboundSms
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE, BOB

HEADER = "record_id,msisdn,used_at,kind,service_code,quantity,roaming\n"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def csv(*lines: str) -> bytes:
    return (HEADER + "\n".join(lines) + "\n").encode()


def load(platform, data: bytes, name: str = "usage.csv"):
    with platform.uow() as ctx:
        return import_usage(ctx, data, filename=name, actor="test")


def handset(platform, msisdn: str) -> list[str]:
    """Everything the subscriber's phone received so far (due rows are dispatched first)."""
    platform.deliver()
    return ["".join(d.parts) for d in platform.gateway.delivered if d.recipient == msisdn]


def count(platform, model) -> int:
    with platform.uow() as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(model)) or 0)


# -- the file format, without a database ---------------------------------------------------------


def test_parse_reads_every_kind():
    rows = parse_usage_csv(
        csv(
            "G1,13800138000,2026-04-09T20:00:00+08:00,vas,qq-game,2,",
            "D1,+86 138 0013 8000,2026-04-09 21:00,DATA,,2048,abroad",
            "",
            "V1,13800138000,2026-04-09T21:30:00Z,voice,,61,domestic",
        )
    )
    assert [(r.line, r.kind, r.service_code, r.quantity, r.roaming) for r in rows] == [
        (2, "vas", "QQ-GAME", 2, ""),
        (3, "data", None, 2048, "abroad"),
        (5, "voice", None, 61, "domestic"),
    ]
    assert rows[1].msisdn == "13800138000" and rows[1].used_at == sh(2026, 4, 9, 21)


def test_parse_reports_every_bad_line_by_number():
    with pytest.raises(UsageFileError) as err:
        parse_usage_csv(
            csv(
                "A1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",
                "A2,12345,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",
                "A3,13800138000,yesterday,data,,10,",
                "A4,13800138000,2026-04-09T20:00:00+08:00,data,,-5,",
                "A1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",
                "A6,13800138000,2026-04-09T20:00:00+08:00,fax,,1,",
                "A7,13800138000,2026-04-09T20:00:00+08:00,data,QQ-GAME,1,",
                "A8,13800138000",
            )
        )
    lines = [line for line, _ in err.value.problems]
    assert lines == [3, 4, 5, 6, 7, 8, 9]
    assert "line 6: record A1 of this subscriber repeats line 2" in err.value.message
    assert "nothing imported" in err.value.message


def test_parse_refuses_bad_headers_and_empty_files():
    for data, why in (
        (b"", "empty"),
        (b"msisdn,used_at\n", "missing column"),
        (HEADER.encode(), "no records"),
        (b"record_id,msisdn,used_at,kind,quantity,color\n", "unknown"),
        (b"\xff\xfe\x00", "UTF-8"),
    ):
        with pytest.raises(UsageFileError, match=why):
            parse_usage_csv(data)


@given(st.binary(max_size=300))
def test_parse_fails_only_with_a_clear_error(data):
    try:
        parse_usage_csv(HEADER.encode() + data)
    except UsageFileError as exc:
        assert exc.problems and all(line >= 1 for line, _ in exc.problems)


# -- importing ------------------------------------------------------------------------------------


def game_subscription(platform, msisdn: str = ALICE) -> int:
    return add_subscription(
        platform, msisdn=msisdn, service="QQ-GAME", confirmed_at=sh(2026, 4, 1, 9), first_charge_on=date(2026, 4, 1)
    )


def test_per_use_records_are_charged_with_a_reminder_each(platform, clock):
    sub = game_subscription(platform)
    report = load(
        platform,
        csv(
            "G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",
            "G2,13800138000,2026-04-09T21:00:00+08:00,vas,QQ-GAME,3,",
            "D1,13800138000,2026-04-09T21:00:00+08:00,data,,100,",
        ),
    )
    assert (report.records, report.new_records, report.charges, report.amount_fen) == (3, 3, 2, 200 + 600)
    with platform.uow() as ctx:
        charges = list_charges(ctx, msisdn=ALICE)
    assert [(c.kind, c.period, c.amount_fen, c.quantity, c.usage_ref, c.subscription_id) for c in charges] == [
        ("per_use", "2026-04", 200, 1, "G1", sub),
        ("per_use", "2026-04", 600, 3, "G2", sub),
    ]
    sent = platform.deliver()
    reminder_texts = [s.text for s in sent if s.kind == "charge_reminder"]
    assert any(
        "4月9日使用腾讯公司手机游戏点播业务(3次)信息费6元已扣除" in t and "回复YYQQ-GAME" in t for t in reminder_texts
    )
    assert len(reminder_texts) == 2


def test_the_same_file_twice_or_overlapping_files_charge_nothing_twice(platform, clock):
    game_subscription(platform)
    first = csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,")
    assert load(platform, first).charges == 1
    again = load(platform, first, "usage-copy.csv")
    assert again.already_imported and again.charges == 0
    overlapping = csv(
        "G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",
        "G9,13800138000,2026-04-09T22:00:00+08:00,vas,QQ-GAME,1,",
    )
    report = load(platform, overlapping)
    assert (report.new_records, report.charges) == (1, 1)
    assert count(platform, Charge) == 2
    assert count(platform, UsageRecord) == 2


def test_one_bad_row_rejects_the_whole_file(platform, clock):
    game_subscription(platform)
    bad = csv(
        "G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",
        "G2,13900139000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,",  # Bob never ordered it
        "G3,13800138000,2026-04-09T20:00:00+08:00,vas,SINA-NEWS,1,",  # monthly, not per use
        "G4,13800138000,2026-03-09T20:00:00+08:00,vas,QQ-GAME,1,",  # before Alice ordered
        "G5,13800138000,2026-04-11T20:00:00+08:00,vas,QQ-GAME,1,",  # after now
        "G6,19912345678,2026-04-09T20:00:00+08:00,data,,1,",
    )  # not our subscriber
    with pytest.raises(UsageFileError) as err:
        load(platform, bad)
    assert [line for line, _ in err.value.problems] == [3, 4, 5, 6, 7]
    assert "no confirmed subscription to QQ-GAME" in err.value.message
    assert count(platform, Charge) == 0 and count(platform, UsageRecord) == 0  # nothing half-applied
    with platform.uow() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(OutboundSms)) == 0


def test_a_known_record_id_with_other_content_rejects_the_file(platform, clock):
    game_subscription(platform)
    load(platform, csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,"))
    with pytest.raises(UsageFileError, match="line 2: record G1 was imported before with different content"):
        load(platform, csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,5,"))
    assert count(platform, Charge) == 1


# -- traffic alerts -----------------------------------------------------------------------------


def with_package(platform, msisdn: str, package: str | None) -> None:
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=msisdn, brand="gotone", province="湖南", package=package))


def data(rid: str, mb: int, day: int = 9, roaming: str = "", msisdn: str = ALICE) -> str:
    return f"{rid},{msisdn},2026-04-{day:02d}T12:00:00+08:00,data,,{mb * 1024},{roaming}"


def test_traffic_alerts_once_per_threshold_and_month(platform, clock):
    with_package(platform, ALICE, "GT58")  # 500 MB
    assert load(platform, csv(data("D1", 10))).alerts == 1  # first data use
    assert load(platform, csv(data("D2", 200))).alerts == 0  # 210 MB: under 50%
    assert load(platform, csv(data("D3", 200), data("D4", 5))).alerts == 1  # 415 MB: 50% and 80% → one, for 80
    assert load(platform, csv(data("D5", 10))).alerts == 0
    assert load(platform, csv(data("D6", 100))).alerts == 1  # 100%
    assert load(platform, csv(data("D7", 100))).alerts == 0
    with platform.uow() as ctx:
        assert mark_alerts(ctx, ALICE) == ["data:first", "data:2026-04:80", "data:2026-04:100"]
    texts_ = handset(platform, ALICE)
    assert any("已开始使用手机上网" in t and "500MB" in t for t in texts_)
    assert any("达到套餐内500MB的80%" in t for t in texts_)
    assert any("500MB已用完" in t for t in texts_)
    # a new month starts the thresholds again, but "first use" was once for ever
    clock.set(sh(2026, 5, 20, 10))
    assert load(platform, csv(data("M1", 300, day=1).replace("2026-04-01", "2026-05-01"))).alerts == 1
    with platform.uow() as ctx:
        assert mark_alerts(ctx, ALICE)[-1] == "data:2026-05:50"


def test_roaming_alerts_first_use_and_every_step(platform, clock):
    with_package(platform, BOB, None)
    report = load(platform, csv(data("R1", 3, roaming="abroad", msisdn=BOB)))
    assert report.alerts == 2  # first data use at all, first use abroad
    assert load(platform, csv(data("R2", 6, roaming="abroad", msisdn=BOB))).alerts == 0  # 9 MB
    assert load(platform, csv(data("R3", 12, roaming="abroad", msisdn=BOB))).alerts == 1  # 21 MB: step 2
    with platform.uow() as ctx:
        assert mark_alerts(ctx, BOB) == ["data:first", "roam:2026-04:first", "roam:2026-04:2"]
    last = handset(platform, BOB)[-1]
    assert "境外已使用数据流量21MB" in last


def test_thresholds_come_from_settings(db_url, clock, gateway):
    from mingbai.catalog.service import import_catalog
    from mingbai.db import Database, make_engine
    from mingbai.demo import DEMO_CATALOG
    from mingbai.platform import Platform

    settings = Settings(database_url=db_url, code_secret="t", traffic_alert_percents=(90,), roaming_alert_step_mb=5)
    platform = Platform(settings, clock=clock, gateway=gateway, database=Database(make_engine(db_url)))
    with platform.uow() as ctx:
        import_catalog(ctx, DEMO_CATALOG)
    with_package(platform, ALICE, "MZ18")  # 100 MB
    load(platform, csv(data("D1", 85), data("A1", 6, roaming="abroad")))
    load(platform, csv(data("D2", 10)))
    with platform.uow() as ctx:
        assert mark_alerts(ctx, ALICE) == ["data:first", "roam:2026-04:first", "roam:2026-04:1", "data:2026-04:90"]
    platform.db.engine.dispose()


def test_import_is_timed_by_the_clock(platform, clock):
    game_subscription(platform)
    clock.set(sh(2026, 4, 9, 23, 30))  # at night the reminder waits for 08:00
    load(platform, csv("G1,13800138000,2026-04-09T20:00:00+08:00,vas,QQ-GAME,1,"))
    assert [s for s in platform.deliver() if s.kind == "charge_reminder"] == []
    clock.advance(timedelta(hours=9))
    assert [s.kind for s in platform.deliver()] == ["charge_reminder"]


def test_one_alert_per_threshold_crossed_on_separate_days_of_one_file(platform, clock):
    """50% on the 3rd, 80% on the 5th, 100% on the 7th, all in one file: three alerts (issue 13)."""
    with_package(platform, ALICE, "GT58")  # 500 MB
    load(platform, csv(data("D0", 10, day=1)))
    report = load(platform, csv(data("D1", 250, day=3), data("D2", 150, day=5), data("D3", 100, day=7)))
    assert report.alerts == 3
    with platform.uow() as ctx:
        assert mark_alerts(ctx, ALICE)[1:] == ["data:2026-04:50", "data:2026-04:80", "data:2026-04:100"]
    texts_ = handset(platform, ALICE)
    assert any("达到套餐内500MB的50%" in t and "260MB" in t for t in texts_)
    assert any("达到套餐内500MB的80%" in t and "410MB" in t for t in texts_)


def test_alerts_about_a_month_already_over_name_the_month(platform, clock):
    """Usage of April imported on 5 May: the alerts say 2026年4月, not 本月 (issue 13)."""
    with_package(platform, ALICE, "GT58")
    clock.set(sh(2026, 5, 5, 10))
    load(platform, csv(data("D1", 10, day=28), data("D2", 300, day=29), data("A1", 12, day=30, roaming="abroad")))
    alerts = [t for t in handset(platform, ALICE) if "流量提醒" in t and "MB" in t]
    assert alerts and all("本月" not in t for t in alerts), alerts
    assert any("2026年4月已使用国内流量310MB" in t for t in alerts)
    assert any("2026年4月在境外已使用数据流量12MB" in t for t in alerts)
