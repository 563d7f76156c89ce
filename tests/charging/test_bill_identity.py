"""Every month's bill adds up, whatever happened in it (issue 13).

Histories are generated: orders (first ones with their free trial, re-orders charged at once),
unsubscriptions, the scheduler's ticks at exactly 00:00:00 on the 1st and at 23:59:59.999999 the
day before, recharges, payments, gifts, returns, per-use charges (some imported after their month
ended) and charges the balance cannot cover. For every month of every history, on SQLite and on
PostgreSQL:

* opening_balance_fen + credits_fen - debits_fen == closing_balance_fen, to the fen;
* a month's closing balance is the next month's opening balance;
* each credit and each charge is in exactly one month's bill: the month of its instant on the
  Shanghai calendar, the boundary instant belonging to the month that begins (an oracle computed
  here in Python, independently of the SQL);
* on SQLite, every stored instant has the one text form that sorts (a wrongly bound parameter
  is how a fee raised at 00:00 on the 1st once fell into the month before).
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from mingbai.catalog.rules import SubscriberIn
from mingbai.catalog.service import save_subscriber
from mingbai.charging.bill import bill
from mingbai.charging.billing import run_billing
from mingbai.charging.ledger import credit, issue_cards, recharge_with_card
from mingbai.charging.models import BalanceEntry, Charge
from mingbai.charging.rules import parse_billing_period, period_at
from mingbai.charging.usage import import_usage
from mingbai.charging.usage_csv import UsageFileError
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.db import Base, UtcDateTime
from mingbai.errors import MingbaiError
from mingbai.platform import Platform
from mingbai.subscriptions.service import place_order
from tests.helpers import code_from, last_delivered

ALICE = "13800138000"
MONTHS = ["2026-09", "2026-10", "2026-11", "2026-12", "2027-01"]


def _month_starts() -> list[datetime]:
    return [parse_billing_period(m).start for m in MONTHS]


def instants() -> st.SearchStrategy[datetime]:
    """Mostly the boundaries: 00:00:00 on the 1st, the microsecond before; otherwise any hour."""
    starts = _month_starts()
    boundary = st.sampled_from(starts[1:])
    before = st.sampled_from([s - timedelta(microseconds=1) for s in starts[1:]])
    anywhere = st.builds(
        lambda m, d, h: starts[m] + timedelta(days=d, hours=h),
        st.integers(0, len(starts) - 2),
        st.integers(0, 27),
        st.integers(0, 23),
    )
    return st.one_of(boundary, before, anywhere)


ACTIONS = st.one_of(
    st.tuples(st.just("order"), st.sampled_from(["SINA-NEWS", "QQ-TONES", "QQ-GAME"])),
    st.tuples(st.just("unsubscribe"), st.just("")),
    st.tuples(st.just("tick"), st.just("")),
    st.tuples(st.just("run"), st.just("")),
    st.tuples(st.sampled_from(["payment", "gift", "return", "recharge"]), st.sampled_from([100, 350, 1000])),
    st.tuples(st.just("use"), st.sampled_from([0, 1, 40])),  # days before the import it was used
)

HISTORIES = st.lists(st.tuples(instants(), ACTIONS), min_size=3, max_size=14)


def _history(
    platform: Platform, clock: FixedClock, msisdn: str, steps: list[tuple[datetime, tuple[str, object]]]
) -> None:
    uses = itertools.count(1)
    for at, (kind, arg) in sorted(steps, key=lambda s: s[0]):
        clock.set(at)
        if kind == "order":
            try:
                with platform.uow() as ctx:
                    place_order(ctx, msisdn=msisdn, service_code=str(arg), channel="sp", actor="test")
            except MingbaiError:
                continue  # already subscribed or pending: a refused order changes nothing
            platform.receive_sms(msisdn, "10086", code_from(last_delivered(platform, msisdn)))
        elif kind == "unsubscribe":
            platform.receive_sms(msisdn, "10086", "0000")
        elif kind == "tick":
            platform.tick()
        elif kind == "run":
            run_billing(platform, period_at(at), actor="test")
        elif kind == "recharge":
            no = str(next(_CARDS))
            with platform.uow() as ctx:
                issue_cards(ctx, card_numbers=[no], face_value_fen=int(str(arg)), issued_on=date(2026, 1, 1))
                recharge_with_card(ctx, msisdn=msisdn, card_no=no, channel="sms", actor="subscriber")
        elif kind == "use":
            used_at = max(at - timedelta(days=int(str(arg))), _month_starts()[0])
            n = next(uses)
            csv = (
                "record_id,msisdn,used_at,kind,service_code,quantity,roaming\n"
                f"G{msisdn}-{n},{msisdn},{used_at.isoformat()},vas,QQ-GAME,{n % 3 + 1},\n"
            )
            try:
                with platform.uow() as ctx:
                    import_usage(ctx, csv.encode(), filename=f"u{msisdn}-{n}.csv", actor="test")
            except UsageFileError:
                continue  # no QQ-GAME subscription at that instant: the file is refused whole
        else:
            with platform.uow() as ctx:
                credit(ctx, msisdn=msisdn, kind=kind, amount_fen=int(str(arg)), channel="hall", actor="test")


_CANONICAL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def _check_stored_instants(platform: Platform) -> None:
    with platform.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, UtcDateTime):
                    continue
                for (raw,) in conn.execute(
                    text(f"SELECT {column.name} FROM {table.name} WHERE {column.name} IS NOT NULL")
                ):
                    assert _CANONICAL.match(str(raw)), f"{table.name}.{column.name} stored as {raw!r}"


@pytest.fixture
def fresh(platform: Platform, clock: FixedClock) -> tuple[Platform, FixedClock]:
    return platform, clock


_NUMBERS = itertools.count(13800000001)
_CARDS = itertools.count(3_000_000_000_001)


def _new_subscriber(platform: Platform, clock: FixedClock) -> str:
    """A fresh subscriber per example (subscription events are append-only: no clean slate)."""
    msisdn = str(next(_NUMBERS))
    clock.set(_month_starts()[0] - timedelta(days=20))
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=msisdn, brand="动感地带", province="广东", status="active"))
    return msisdn


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=HISTORIES)
def test_every_month_adds_up(fresh: tuple[Platform, FixedClock], steps) -> None:  # type: ignore[no-untyped-def]
    platform, clock = fresh
    msisdn = _new_subscriber(platform, clock)
    _history(platform, clock, msisdn, steps)
    clock.set(_month_starts()[-1] + timedelta(days=3))
    bills = []
    with platform.uow() as ctx:
        for label in MONTHS:
            bills.append(bill(ctx, msisdn=msisdn, period=label))
        charges = list(ctx.session.scalars(select(Charge).where(Charge.msisdn == msisdn)))
        credits = list(ctx.session.scalars(select(BalanceEntry).where(BalanceEntry.msisdn == msisdn)))
    for b in bills:
        assert b.opening_balance_fen + b.credits_fen - b.debits_fen == b.closing_balance_fen, b.period
        assert b.credits_fen == sum(c.amount_fen for c in b.recharges_and_payments + b.gifts_and_returns)
        assert b.debits_fen == sum(i.amount_fen for sp in b.third_party for s in sp.services for i in s.items)
    for earlier, later in itertools.pairwise(bills):
        assert earlier.closing_balance_fen == later.opening_balance_fen, later.period
        assert earlier.closing_owed_fen == later.opening_owed_fen, later.period
    # the oracle: each entry in the month of its instant, computed here rather than in SQL
    for b in bills:
        month = b.period
        booked_debits = sorted(c.id for c in charges if period_at(c.created_at).label == month)
        listed = sorted(i.charge_id for sp in b.third_party for s in sp.services for i in s.items)
        assert listed == booked_debits, month
        before = parse_billing_period(month).start
        expected_open = sum(e.amount_fen for e in credits if e.at < before) - sum(
            c.amount_fen for c in charges if c.created_at < before
        )
        assert b.opening_balance_fen == expected_open, month
        assert b.credits_fen == sum(e.amount_fen for e in credits if period_at(e.at).label == month)
    if platform.db.engine.dialect.name == "sqlite":
        _check_stored_instants(platform)


def test_fees_raised_at_midnight_on_the_first_belong_to_the_month_that_begins(platform, clock) -> None:  # type: ignore[no-untyped-def]
    """The issue's case: runs at 2026-10-01T00:00:00+08:00 and 2026-11-01T00:00:00+08:00."""
    clock.set(datetime(2026, 8, 1, tzinfo=SHANGHAI))
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=ALICE, brand="动感地带", province="广东", status="active"))
        credit(ctx, msisdn=ALICE, kind="payment", amount_fen=10000, channel="hall", actor="t")
    from tests.charging.conftest import add_subscription

    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=clock.now(), first_charge_on=date(2026, 9, 1)
    )
    for month in ("2026-10", "2026-11"):
        clock.set(parse_billing_period(month).start)
        run_billing(platform, parse_billing_period(month), actor="scheduler")
    clock.set(datetime(2026, 11, 5, tzinfo=SHANGHAI))
    with platform.uow() as ctx:
        october = bill(ctx, msisdn=ALICE, period="2026-10")
        september = bill(ctx, msisdn=ALICE, period="2026-09")
    assert (september.debits_fen, september.closing_balance_fen) == (0, 10000)
    assert (october.opening_balance_fen, october.debits_fen, october.closing_balance_fen) == (10000, 500, 9500)
    assert [i.day for sp in october.third_party for s in sp.services for i in s.items] == [date(2026, 10, 1)]
    if platform.db.engine.dialect.name == "sqlite":
        _check_stored_instants(platform)
