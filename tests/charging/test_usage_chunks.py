"""Big usage files in chunks (issue 12): each chunk its own short transaction, other writers get the
database in between, a stopped import resumes and ends exactly as a run that never stopped."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

import pytest
from sqlalchemy import delete, select

from mingbai.catalog.rules import SubscriberIn
from mingbai.catalog.service import save_subscriber
from mingbai.charging.models import Charge, UsageImport, UsageRecord
from mingbai.charging.usage import import_usage_in_chunks
from mingbai.charging.usage_csv import UsageFileError
from mingbai.clock import SHANGHAI
from mingbai.messaging.models import OutboundSms, SmsPart
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE, BOB, owner_uow

HEADER = "record_id,msisdn,used_at,kind,service_code,quantity,roaming\n"


class Stop(Exception):
    """The injected crash."""


def big_file() -> bytes:
    lines = []
    for i in range(1, 31):
        who = ALICE if i % 3 else BOB
        if i % 2:
            lines.append(f"G{i},{who},2026-04-0{1 + i % 9}T20:{i:02d}:00+08:00,vas,QQ-GAME,{1 + i % 3},")
        else:  # 10 MB a time: Alice's 100 MB package (MZ18) crosses 50, 80 and 100 % over several chunks
            lines.append(f"D{i},{who},2026-04-0{1 + i % 9}T12:{i:02d}:00+08:00,data,,{10 * 1024},")
    return (HEADER + "\n".join(lines) + "\n").encode()


@pytest.fixture
def world(platform, clock):  # type: ignore[no-untyped-def]
    for msisdn in (ALICE, BOB):
        add_subscription(
            platform,
            msisdn=msisdn,
            service="QQ-GAME",
            confirmed_at=datetime(2026, 3, 1, 9, tzinfo=SHANGHAI),
            first_charge_on=date(2026, 3, 1),
        )
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=ALICE, brand="gotone", province="湖南", package="MZ18"))
    return platform


def snapshot(platform):  # type: ignore[no-untyped-def]
    """What an import leaves behind, without the ids it draws."""
    with platform.uow() as ctx:
        s = ctx.session
        return {
            "records": sorted(
                (u.msisdn, u.record_id, u.used_at, u.kind, u.quantity) for u in s.scalars(select(UsageRecord))
            ),
            "charges": sorted(
                (c.msisdn, c.usage_ref, c.period, c.amount_fen, c.quantity, c.subscription_id)
                for c in s.scalars(select(Charge))
            ),
            "outbox": sorted((m.msisdn, m.kind, m.dedupe_key or "", m.text) for m in s.scalars(select(OutboundSms))),
            "imports": [
                (i.records, i.new_records, i.charges, i.amount_fen, i.alerts, i.status, i.last_line)
                for i in s.scalars(select(UsageImport))
            ],
        }


def wipe(platform) -> None:  # type: ignore[no-untyped-def]
    with owner_uow(platform) as ctx:  # usage_record is append-only for the platform
        for model in (SmsPart, OutboundSms, Charge, UsageRecord, UsageImport):
            ctx.session.execute(delete(model))


def run(platform, data: bytes, *, stop_after: int | None = None, chunk_rows: int = 4):  # type: ignore[no-untyped-def]
    def progress(done: int, total: int) -> None:
        if stop_after is not None and done >= stop_after:
            raise Stop

    return import_usage_in_chunks(
        platform.uow, data, filename="big.csv", actor="test", chunk_rows=chunk_rows, progress=progress
    )


def test_a_stopped_import_resumes_and_ends_as_a_clean_one(world):
    data = big_file()
    clean_report = run(world, data)
    clean = snapshot(world)
    assert clean_report.records == 30 and clean_report.charges == 15 and clean_report.alerts >= 3
    assert clean["imports"] == [(30, 30, 15, clean_report.amount_fen, clean_report.alerts, "done", 31)]
    assert len(clean["charges"]) == 15
    wipe(world)

    with pytest.raises(Stop):
        run(world, data, stop_after=12)  # killed after the third chunk
    half = snapshot(world)
    assert half["imports"][0][5:] == ("running", 13)  # lines 2..13 are in, the rest not
    assert len(half["records"]) == 12
    with pytest.raises(Stop):
        run(world, data, stop_after=20)  # and once more, part way through the resumed run
    report = run(world, data)  # the rerun resumes after line 21
    assert snapshot(world) == clean
    assert (report.records, report.new_records, report.charges, report.amount_fen, report.alerts) == (
        clean_report.records,
        clean_report.new_records,
        clean_report.charges,
        clean_report.amount_fen,
        clean_report.alerts,
    )
    again = run(world, data)
    assert again.already_imported and snapshot(world) == clean


def test_a_bad_line_refuses_the_file_before_any_chunk_is_written(world):
    data = big_file() + f"X1,{BOB},2026-04-09T20:00:00+08:00,vas,SINA-NEWS,1,\n".encode()  # last line: monthly
    with pytest.raises(UsageFileError, match="line 32"):
        run(world, data)
    assert snapshot(world) == {"records": [], "charges": [], "outbox": [], "imports": []}


def test_other_writers_get_the_database_between_chunks(world, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the single-writer lock is SQLite's")
    path = db_url.removeprefix("sqlite:///")
    took: list[int] = []

    def progress(done: int, total: int) -> None:
        # another process's writer, which will not wait at all: it gets the write lock only if
        # the import holds none between its chunks
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            took.append(done)
        finally:
            other.close()

    import_usage_in_chunks(world.uow, big_file(), filename="big.csv", actor="test", chunk_rows=4, progress=progress)
    assert took == [0, 4, 8, 12, 16, 20, 24, 28, 30]
