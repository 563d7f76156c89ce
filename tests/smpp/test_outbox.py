"""The outbox's resubmission rules, driven directly (no SMSC): claim, lost answers, receipts
that settle doubts, resubmission after the wait, quiet hours for bulk rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from mingbai.clock import SHANGHAI
from mingbai.messaging import outbox
from mingbai.messaging import service as messaging
from mingbai.messaging.models import OutboundSms
from mingbai.messaging.rules import parse_quiet_hours
from tests.helpers import ALICE, BOB

WAIT = timedelta(minutes=10)


def _row(platform, msisdn, row_id) -> OutboundSms:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        return ctx.session.get(OutboundSms, (msisdn, row_id))


def test_claim_is_exclusive_and_counts_attempts(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        rid = messaging.enqueue(ctx, msisdn=ALICE, text="a", kind="t")
    with platform.uow() as ctx:
        (c,) = outbox.claim_due(ctx, run_id="run-1", limit=10)
        assert outbox.claim_due(ctx, run_id="run-2", limit=10) == []
    row = _row(platform, ALICE, rid)
    assert (c.id, c.attempt, row.status, row.claimed_by) == (rid, 1, "submitting", "run-1")


def test_claim_ahead_takes_rows_due_within_the_lookahead_and_no_later(platform) -> None:  # type: ignore[no-untyped-def]
    now = platform.clock.now()
    with platform.uow() as ctx:
        soon = messaging.enqueue(ctx, msisdn=ALICE, text="a", kind="t", due_at=now + timedelta(milliseconds=400))
        messaging.enqueue(ctx, msisdn=BOB, text="b", kind="t", due_at=now + timedelta(milliseconds=700))
    with platform.uow() as ctx:
        assert outbox.claim_due(ctx, run_id="r", limit=10) == []
        (c,) = outbox.claim_due(ctx, run_id="r", limit=10, ahead=timedelta(milliseconds=500))
    assert c.id == soon and c.due_at == now + timedelta(milliseconds=400)


def test_a_lost_run_leaves_rows_in_doubt_and_an_unknown_receipt_settles_them(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        rid = messaging.enqueue(ctx, msisdn=ALICE, text="a", kind="t")
        other = messaging.enqueue(ctx, msisdn=BOB, text="b", kind="t")
    with platform.uow() as ctx:
        outbox.claim_due(ctx, run_id="dead-run", limit=10)
    with platform.uow() as ctx:  # the new run starts
        assert outbox.reconcile_lost_runs(ctx, run_id="new-run", doubt_wait=WAIT) == 2
    assert _row(platform, ALICE, rid).status == "in_doubt"
    with platform.uow() as ctx:  # the SMSC had taken ALICE's: its receipt arrives with an id we never stored
        report = outbox.apply_events(ctx, [outbox.Receipt("SMSC-77", ALICE, "DELIVRD", "000")], doubt_wait=WAIT)
    assert report.receipts_matched_in_doubt == 1
    row = _row(platform, ALICE, rid)
    assert (row.status, row.gateway_ref) == ("delivered", "SMSC-77")
    # BOB's never reached the SMSC: after the wait it goes again, once
    with platform.uow() as ctx:
        assert outbox.release_doubts(ctx) == 0
    platform.clock.advance(WAIT)
    with platform.uow() as ctx:
        assert outbox.release_doubts(ctx) == 1
        (again,) = outbox.claim_due(ctx, run_id="new-run", limit=10)
    assert (again.id, again.attempt) == (other, 2)


def test_multipart_resubmission_skips_parts_the_smsc_accepted(platform) -> None:  # type: ignore[no-untyped-def]
    text = "长" * 200  # 3 concatenated parts
    with platform.uow() as ctx:
        rid = messaging.enqueue(ctx, msisdn=ALICE, text=text, kind="t")
        outbox.claim_due(ctx, run_id="r", limit=1)
    with platform.uow() as ctx:
        outbox.apply_events(
            ctx,
            [
                outbox.PartAccepted(ALICE, rid, 1, 1, "P1"),
                outbox.RowOutcome(ALICE, rid, "in_doubt", 3, error="answer_lost"),
                outbox.Receipt("P1", ALICE, "DELIVRD"),
            ],
            doubt_wait=WAIT,
        )
    platform.clock.advance(WAIT)
    with platform.uow() as ctx:
        outbox.release_doubts(ctx)
        (c,) = outbox.claim_due(ctx, run_id="r", limit=1)
    assert c.accepted_parts == frozenset({1})
    with platform.uow() as ctx:
        outbox.apply_events(
            ctx,
            [
                outbox.PartAccepted(ALICE, rid, 2, 2, "P2"),
                outbox.PartAccepted(ALICE, rid, 3, 2, "P3"),
                outbox.RowOutcome(ALICE, rid, "submitted", 3, gateway_ref="P2"),
                outbox.Receipt("P2", ALICE, "DELIVRD"),
                outbox.Receipt("P3", ALICE, "EXPIRED"),
            ],
            doubt_wait=WAIT,
        )
    row = _row(platform, ALICE, rid)
    assert (row.status, row.parts) == ("expired", 3)


def test_duplicate_and_unknown_receipts_change_nothing(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        rid = messaging.enqueue(ctx, msisdn=ALICE, text="a", kind="t")
        outbox.claim_due(ctx, run_id="r", limit=1)
        outbox.apply_events(ctx, [outbox.RowOutcome(ALICE, rid, "submitted", 1, gateway_ref="X1")], doubt_wait=WAIT)
    with platform.uow() as ctx:
        outbox.apply_events(ctx, [outbox.Receipt("X1", ALICE, "DELIVRD")], doubt_wait=WAIT)
        r = outbox.apply_events(
            ctx, [outbox.Receipt("X1", ALICE, "UNDELIV"), outbox.Receipt("NOPE", BOB, "DELIVRD")], doubt_wait=WAIT
        )
    assert r.orphans == 1
    assert _row(platform, ALICE, rid).status == "delivered"


def test_bulk_rows_wait_out_the_quiet_hours(platform) -> None:  # type: ignore[no-untyped-def]
    quiet = parse_quiet_hours("21:00-08:00")
    platform.clock.set(datetime(2026, 4, 10, 22, 30, tzinfo=SHANGHAI))
    with platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text="campaign", kind="campaign")
        ctx.session.query(OutboundSms).update({"bulk": True})
        messaging.enqueue(ctx, msisdn=BOB, text="reply", kind="reply")
    with platform.uow() as ctx:
        assert [c.msisdn for c in outbox.claim_due(ctx, run_id="r", limit=10, quiet=quiet)] == [BOB]
    platform.clock.set(datetime(2026, 4, 11, 8, 0, tzinfo=SHANGHAI))
    with platform.uow() as ctx:
        assert [c.msisdn for c in outbox.claim_due(ctx, run_id="r", limit=10, quiet=quiet)] == [ALICE]


def test_operator_stats(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        a = messaging.enqueue(ctx, msisdn=ALICE, text="a", kind="t")
        messaging.enqueue(ctx, msisdn=BOB, text="b", kind="t")
        outbox.claim_due(ctx, run_id="r", limit=1)
        outbox.apply_events(
            ctx,
            [outbox.RowOutcome(ALICE, a, "submitted", 1, gateway_ref="S1"), outbox.Receipt("S1", ALICE, "DELIVRD")],
            doubt_wait=WAIT,
        )
    platform.clock.advance(timedelta(minutes=3))
    with platform.uow() as ctx:
        s = outbox.outbox_stats(ctx, since=ctx.now() - timedelta(days=1))
    assert s.counts["delivered"] == 1 and s.counts["queued"] == 1 and s.delivery_rate == 1.0
    assert s.oldest_open is not None and s.oldest_open.msisdn == "139****9000" and s.oldest_open.age_seconds == 180


def test_oldest_queued_row_is_the_one_longest_due(platform) -> None:  # type: ignore[no-untyped-def]
    # queued rows are not in the (status, created_at) index (0503): the longest-due one is found
    # through the due index, and a row written earlier but due later is not the "oldest open"
    with platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text="later", kind="campaign", due_at=ctx.now() + timedelta(hours=9))
    platform.clock.advance(timedelta(minutes=5))
    with platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=BOB, text="now", kind="reply")
    platform.clock.advance(timedelta(minutes=1))
    with platform.uow() as ctx:
        s = outbox.outbox_stats(ctx, since=ctx.now() - timedelta(days=1))
    assert s.counts["queued"] == 2
    assert s.oldest_open is not None and s.oldest_open.msisdn == "139****9000" and s.oldest_open.age_seconds == 60


def test_a_receipt_that_overtakes_its_submit_answer_still_counts(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        rid = messaging.enqueue(ctx, msisdn=ALICE, text="a", kind="t")
        outbox.claim_due(ctx, run_id="r", limit=1)
    with platform.uow() as ctx:
        assert outbox.apply_events(ctx, [outbox.Receipt("E1", ALICE, "DELIVRD")], doubt_wait=WAIT).orphans == 1
    with platform.uow() as ctx:
        outbox.apply_events(ctx, [outbox.RowOutcome(ALICE, rid, "submitted", 1, gateway_ref="E1")], doubt_wait=WAIT)
    assert _row(platform, ALICE, rid).status == "delivered"
