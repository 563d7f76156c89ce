"""Money invariants over random histories, on SQLite and PostgreSQL (hypothesis).

Whatever mix of charges (fair, in the trial, after unsubscription, at a wrong price), disputes
(one charge, several, a whole subscription; any channel; kept or stopped), replays and double
clicks, verification outcomes, discretionary refunds and the 72-hour pass:

- the refund of a charge is at most the charge; its return is 0 or equal to the refund;
- a replayed or double-clicked request posts nothing new;
- a dispute unverified at 72 hours ends with return 0;
- the ledger says what the disputes say, and the bill's balance identity still holds.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mingbai.catalog.rules import SubscriberIn
from mingbai.catalog.service import save_subscriber
from mingbai.charging.ledger import balance
from mingbai.charging.models import BalanceEntry, Charge
from mingbai.clock import FixedClock
from mingbai.disputes import service
from mingbai.disputes.models import Dispute, DisputeItem
from mingbai.errors import MingbaiError
from tests.conftest import DEFAULT_NOW
from tests.disputes.conftest import charge, subscribed

_numbers = itertools.count(13500000000)

SERVICES = ["SINA-NEWS", "SINA-WEATHER", "SOHU-MMS"]
PERIODS = ["2026-04", "2026-05", "2026-06"]

charge_plan = st.tuples(
    st.integers(0, len(SERVICES) - 1),
    st.sampled_from(PERIODS),
    st.sampled_from([None, None, 1, 999]),  # the catalog price, or a wrong one
)
action = st.one_of(
    st.tuples(st.just("open"), st.lists(st.integers(0, 20), min_size=1, max_size=3), st.booleans(), st.booleans()),
    st.tuples(st.just("open_sub"), st.integers(0, len(SERVICES) - 1), st.booleans(), st.booleans()),
    st.tuples(
        st.just("decide"),
        st.integers(0, 20),
        st.sampled_from(["verified_legitimate", "not_verifiable"]),
        st.booleans(),
    ),
    st.tuples(st.just("wait"), st.integers(1, 80), st.booleans(), st.booleans()),
)


def _credits(ctx, msisdn):
    return ctx.session.scalar(select(func.count()).select_from(BalanceEntry).where(BalanceEntry.msisdn == msisdn))


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    policy=st.sampled_from(["confirm_first", "refund_first"]),
    plans=st.lists(charge_plan, min_size=1, max_size=5, unique_by=lambda p: (p[0], p[1])),
    actions=st.lists(action, min_size=1, max_size=8),
)
def _run(platform, clock: FixedClock, policy, plans, actions):
    clock.set(DEFAULT_NOW)
    msisdn = str(next(_numbers))
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=msisdn, brand="gotone", province="湖南"))
        service.set_policy(ctx, category="sms", policy=policy, actor="test")
    subs = {}
    charges: list[int] = []
    for svc, period, price in plans:
        if svc not in subs:
            subs[svc] = subscribed(platform, msisdn=msisdn, service=SERVICES[svc])
        charges.append(charge(platform, msisdn=msisdn, subscription_id=subs[svc], period=period, amount_fen=price))
    opened: list[int] = []
    for act in actions:
        with platform.uow() as ctx:
            before = _credits(ctx, msisdn)
        try:
            with platform.uow() as ctx:
                if act[0] == "open":
                    ids = sorted({charges[i % len(charges)] for i in act[1]})
                    view = service.open_dispute(
                        ctx, msisdn=msisdn, channel="hotline", actor="agent:a", charge_ids=ids, keep_service=act[2]
                    )
                elif act[0] == "open_sub":
                    sub = subs.get(act[1])
                    if sub is None:
                        continue
                    view = service.open_dispute(
                        ctx, msisdn=msisdn, channel="hall", actor="hall:b", subscription_id=sub, keep_service=act[2]
                    )
                elif act[0] == "decide":
                    if not opened:
                        continue
                    view = service.decide_dispute(
                        ctx,
                        dispute_id=opened[act[1] % len(opened)],
                        outcome=act[2],
                        actor="agent:a",
                        discretionary_refund=act[3] and act[2] == "verified_legitimate",
                        reason="坚持" if act[3] else None,
                    )
                else:
                    clock.advance(timedelta(hours=act[1]))
                    service.expire_overdue(ctx)
                    continue
        except MingbaiError:
            continue
        if view.id not in opened:
            opened.append(view.id)
        with platform.uow() as ctx:
            after = _credits(ctx, msisdn)
        if view.replayed:
            assert after == before, "a replay posted something"
        # the very same request again posts nothing
        with platform.uow() as ctx:
            if act[0] == "decide":
                with contextlib.suppress(MingbaiError):
                    service.decide_dispute(
                        ctx,
                        dispute_id=view.id,
                        outcome=act[2],
                        actor="agent:a",
                        discretionary_refund=act[3] and act[2] == "verified_legitimate",
                        reason="坚持" if act[3] else None,
                    )
            elif act[0] == "open":
                again = service.open_dispute(
                    ctx,
                    msisdn=msisdn,
                    channel="hotline",
                    actor="agent:a",
                    charge_ids=[i.charge_id for i in view.items],
                )
                assert again.replayed
        with platform.uow() as ctx:
            assert _credits(ctx, msisdn) == after, "a double click posted something"

    clock.advance(timedelta(hours=73))
    with platform.uow() as ctx:
        service.expire_overdue(ctx)
    with platform.uow() as ctx:
        amounts = dict(ctx.session.execute(select(Charge.id, Charge.amount_fen).where(Charge.msisdn == msisdn)).all())
        credited: dict[tuple[str, str], int] = {}
        for kind, ref, fen in ctx.session.execute(
            select(BalanceEntry.kind, BalanceEntry.ref, BalanceEntry.amount_fen).where(BalanceEntry.msisdn == msisdn)
        ):
            credited[(kind, ref)] = credited.get((kind, ref), 0) + fen
        items = list(ctx.session.scalars(select(DisputeItem).where(DisputeItem.msisdn == msisdn)))
        disputes = list(ctx.session.scalars(select(Dispute).where(Dispute.msisdn == msisdn)))
        b = balance(ctx, msisdn=msisdn)
    for i in items:
        refund = credited.get(("refund", f"charge:{i.charge_id}"), 0)
        ret = credited.get(("return", f"charge:{i.charge_id}"), 0)
        assert (refund, ret) == (i.refund_fen, i.return_fen)  # the ledger says what the dispute says
        assert 0 <= refund <= amounts[i.charge_id]
        assert ret in (0, refund)
        assert i.rule is not None  # after 72 h nothing is left unverified
    for d in disputes:
        assert d.status == "decided"
        if d.decided_by == service.SYSTEM_72H:
            assert d.return_fen == sum(
                i.return_fen for i in items if i.dispute_id == d.id and i.rule != "unverified_3d"
            )
            assert all(i.return_fen == 0 for i in items if i.dispute_id == d.id and i.rule == "unverified_3d")
        assert d.refund_fen == sum(i.refund_fen for i in items if i.dispute_id == d.id)
    assert b.credits_fen - b.charges_fen == b.balance_fen - b.owed_fen  # the bill's identity


def test_money_invariants_over_random_histories(platform, clock):
    _run(platform, clock)
