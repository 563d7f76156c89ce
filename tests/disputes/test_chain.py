"""Tamper evidence: subscription events and MOs chained per subscriber; the database and an
exported bundle verify; any alteration or removal names the first bad row."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from mingbai.cli.main import app
from mingbai.disputes import chain
from mingbai.ids import new_id
from mingbai.messaging.service import InboundRecord, record_mos
from tests.disputes.conftest import charge, subscribed
from tests.helpers import ALICE, BOB, owner_uow

runner = CliRunner()


def _history(platform) -> int:
    sub = subscribed(platform)
    subscribed(platform, msisdn=BOB, service="QQ-TONES")
    platform.receive_sms(ALICE, "10086", "0000")
    platform.receive_sms(ALICE, "10086", "hello?")
    fee = charge(platform, subscription_id=sub, period="2026-04")
    platform.receive_sms(ALICE, "10086", "YYSINA-NEWS")
    return fee


def test_the_flows_write_an_unbroken_chain_per_subscriber(platform):
    _history(platform)
    # a batch of MOs, two waves for ALICE: each wave extends the chain where the last one ended
    platform.receive_many([(ALICE, "10086", "0000"), (BOB, "10086", "0000"), (ALICE, "10086", "help")])
    with platform.uow() as ctx:
        report = chain.verify_database(ctx, heads=True)
        alice = chain.verify_database(ctx, msisdn=ALICE)
        ranges = chain.verify_database(ctx, parallel=2, heads=True)  # worker processes on PostgreSQL
    assert report.ok and report.chains == 4 and report.rows_checked > 10
    assert alice.ok and alice.chains == 2
    assert ranges == report


def test_an_altered_or_removed_mo_is_found(platform):
    _history(platform)
    with owner_uow(platform) as ctx:  # the platform's own role may not
        ctx.session.execute(
            text("UPDATE mo_message SET text = '000000' WHERE msisdn = :m AND text = '0000'"), {"m": ALICE}
        )
    with platform.uow() as ctx:
        report = chain.verify_database(ctx)
    assert not report.ok and report.first_bad is not None
    assert (report.first_bad["table"], report.first_bad["msisdn"]) == ("mo_message", ALICE)
    assert "altered" in report.first_bad["why"]


def test_a_removed_mo_breaks_the_sequence(platform):
    _history(platform)
    with owner_uow(platform) as ctx:
        ctx.session.execute(text("DELETE FROM mo_message WHERE msisdn = :m AND chain_seq = 2"), {"m": ALICE})
    with platform.uow() as ctx:
        report = chain.verify_database(ctx, msisdn=ALICE)
    assert not report.ok and report.first_bad["chain_seq"] == 3 and "missing" in report.first_bad["why"]


def test_a_bundle_verifies_without_the_database_and_catches_edits(platform, db_url, tmp_path):
    fee = _history(platform)
    path = tmp_path / "bundle.json"
    out = runner.invoke(
        app, ["--db", db_url, "evidence", "--msisdn", ALICE, "--charge", str(fee), "--export", str(path)]
    )
    assert out.exit_code == 0, out.output
    ok = runner.invoke(app, ["evidence", "verify", str(path), "--json"])  # no database named
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    bundle = json.loads(path.read_text(encoding="utf-8"))
    assert bundle["evidence"]["confirming_mo"]["text"]

    events = [r for r in bundle["rows"] if r["table"] == "subscription_event"]
    events[0]["actor"] = "subscriber:" + ALICE + "x"  # someone edits who placed the order
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    bad = runner.invoke(app, ["evidence", "verify", str(path), "--json"])
    assert bad.exit_code == 1
    first = json.loads(bad.output)["first_bad"]
    assert (first["table"], first["id"]) == ("subscription_event", events[0]["id"])

    again = runner.invoke(
        app, ["--db", db_url, "evidence", "--msisdn", ALICE, "--charge", str(fee), "--export", str(path)]
    )
    assert again.exit_code == 0
    bundle = json.loads(path.read_text(encoding="utf-8"))
    last = max((r for r in bundle["rows"] if r["table"] == "mo_message"), key=lambda r: r["chain_seq"])
    bundle["rows"].remove(last)  # the newest MO quietly dropped
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    assert runner.invoke(app, ["evidence", "verify", str(path)]).exit_code == 1

    db = runner.invoke(app, ["--db", db_url, "evidence", "verify", "--json"])
    assert db.exit_code == 0 and json.loads(db.output)["ok"] is True


def test_canonical_content_cannot_shift_between_fields():
    from datetime import UTC, datetime

    at = datetime(2026, 4, 10, tzinfo=UTC)
    row = {"msisdn": ALICE, "id": 1, "recipient": "10086", "text": "ab", "received_at": at, "handled_as": "c"}
    shifted = {**row, "text": "a", "handled_as": "bc"}
    assert chain.canonical("mo_message", row) != chain.canonical("mo_message", shifted)


@pytest.mark.parametrize("locked_first", [False, True])
def test_two_transactions_never_extend_a_chain_from_the_same_head(pg_platform, locked_first):
    """The chain's writer locks the chain, once per transaction: a transaction that wrote to
    the subscriber's events first holds the lock already when it writes an MO."""
    from mingbai.subscriptions.shared import record_events

    platform = pg_platform
    platform.receive_sms(ALICE, "10086", "0000")
    inside = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            with platform.uow() as ctx:
                if locked_first:
                    record_events(ctx, [_event(ctx, None, ctx.now())])
                    assert ALICE in ctx.chain_locks
                record_mos(ctx, [InboundRecord(ALICE, "10086", "slow", "help", 1_000_001, ctx.now())])
                inside.set()
                release.wait(5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=slow)
    t.start()
    assert inside.wait(5)
    done = threading.Event()

    def fast() -> None:
        with platform.uow() as ctx:
            record_mos(ctx, [InboundRecord(ALICE, "10086", "fast", "help", 1_000_002, ctx.now())])
        done.set()

    u = threading.Thread(target=fast)
    u.start()
    assert not done.wait(0.5)  # waits for the chain's head, instead of forking it
    release.set()
    t.join(5)
    u.join(5)
    assert not errors and done.is_set()
    with platform.uow() as ctx:
        assert chain.verify_database(ctx, msisdn=ALICE).ok


@pytest.mark.parametrize("n", [10_000])
def test_verification_speed_in_process(n):
    """≥ 1 M rows/s is the mark on the benchmark machine; here only that it is linear and sane."""
    import time
    from datetime import UTC, datetime

    rows = []
    prev = chain.genesis("mo_message", ALICE)
    at = datetime(2026, 4, 10, tzinfo=UTC)
    for i in range(n):
        r = {"msisdn": ALICE, "id": i, "recipient": "10086", "text": "0000", "received_at": at, "handled_as": "query"}
        h = chain.row_hash(prev, "mo_message", r)
        rows.append({**r, "chain_seq": i + 1, "chain_hash": h})
        prev = h
    t0 = time.perf_counter()
    assert chain.verify_rows("mo_message", rows).ok
    assert time.perf_counter() - t0 < 2.0


# -- the database hands rows over as text: the same answers as the walk of typed rows ---------------

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_detail = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=6), _scalar, max_size=5),
    # nested values and non-objects
    st.dictionaries(st.text(max_size=4), st.lists(_scalar, max_size=3) | st.dictionaries(st.text(max_size=3), _scalar)),
    st.lists(_scalar, max_size=3),
)


def _event(ctx, detail, at):
    from mingbai.subscriptions.events import EventKind
    from mingbai.subscriptions.shared import event_row

    row = event_row(
        ctx, msisdn=ALICE, kind=EventKind.DISPUTE_OPENED, service_code="SINA-NEWS", actor="t", channel="api"
    )
    return {**row, "detail": detail, "at": at}


def _both_ways(ctx, msisdn=ALICE):
    """The walk of text rows (one subscriber's on this connection, and every row on MSISDN
    ranges in two processes) against the walk of typed rows (datetimes, parsed JSON)."""
    texts = chain.verify_database(ctx, msisdn=msisdn)
    ranges = chain.verify_database(ctx, parallel=2, heads=True)
    walked = chain.combine([chain.verify_rows(t, chain._stream(ctx, t, msisdn)) for t in chain.CHAINED])
    return texts, ranges, walked


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    details=st.lists(_detail, min_size=1, max_size=4),
    micros=st.integers(0, 999_999),
    text_=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20),
)
def test_the_text_rows_rebuild_the_canonical_content_exactly(platform, details, micros, text_):
    from datetime import timedelta

    from mingbai.subscriptions.shared import record_events

    with platform.uow() as ctx:
        at = ctx.now() + timedelta(microseconds=micros)
        record_events(ctx, [_event(ctx, d, at) for d in details])
        record_mos(ctx, [InboundRecord(ALICE, "10086", text_, "help", new_id(), at)])
    with platform.uow() as ctx:
        texts, ranges, walked = _both_ways(ctx)
    assert walked.ok, walked.first_bad
    assert texts.ok, texts.first_bad
    assert ranges.ok, ranges.first_bad
    assert (texts.chains, texts.rows_checked, texts.heads) == (walked.chains, walked.rows_checked, walked.heads)
    assert ranges.heads == walked.heads


def _tamper(platform, sql: str, **params) -> None:
    with owner_uow(platform) as ctx:  # what the platform's own role may not: the owner, past the trigger
        ctx.session.execute(text("SET LOCAL session_replication_role = replica"))
        for one in sql.split("; "):
            ctx.session.execute(text(one), params)


@pytest.mark.parametrize(
    ("sql", "seq", "why"),
    [
        # one field of an event changed; its detail changed; the detail's keys only reordered (no change)
        ("UPDATE subscription_event SET channel = 'web' WHERE msisdn = :m AND chain_seq = 2", 2, "altered"),
        (
            'UPDATE subscription_event SET detail = CAST(\'{"x": 2,"y":"中"}\' AS json) '
            "WHERE msisdn = :m AND chain_seq = 3",
            3,
            "altered",
        ),
        (
            'UPDATE subscription_event SET detail = CAST(\'{"y": "\\u4e2d", "x": 1}\' AS json) '
            "WHERE msisdn = :m AND chain_seq = 3",
            None,
            None,
        ),
        # a row removed, two rows swapped, a row slipped in (its hash copied from the next one)
        ("DELETE FROM subscription_event WHERE msisdn = :m AND chain_seq = 2", 3, "missing"),
        (
            "UPDATE subscription_event SET chain_seq = 100 WHERE msisdn = :m AND chain_seq = 2; "
            "UPDATE subscription_event SET chain_seq = 2 WHERE msisdn = :m AND chain_seq = 3; "
            "UPDATE subscription_event SET chain_seq = 3 WHERE msisdn = :m AND chain_seq = 100",
            2,
            "altered",
        ),
        (
            "UPDATE subscription_event SET chain_seq = chain_seq + 1000 WHERE msisdn = :m AND chain_seq >= 3; "
            "UPDATE subscription_event SET chain_seq = chain_seq - 999 WHERE msisdn = :m AND chain_seq >= 1000; "
            "INSERT INTO subscription_event (msisdn, id, at, kind, service_code, actor, channel, chain_seq, chain_hash) "
            "SELECT msisdn, id + 77777, at, kind, service_code, actor, channel, 3, chain_hash FROM subscription_event "
            "WHERE msisdn = :m AND chain_seq = 4",
            3,
            "altered",
        ),
        (
            "UPDATE subscription_event SET chain_hash = sha256(chain_hash) WHERE msisdn = :m AND chain_seq = 4",
            4,
            "altered",
        ),
    ],
)
def test_every_walk_finds_the_same_first_bad_row(pg_platform, sql, seq, why):
    from mingbai.subscriptions.shared import record_events

    platform = pg_platform
    with platform.uow() as ctx:
        record_events(ctx, [_event(ctx, d, ctx.now()) for d in (None, {"a": [1]}, {"x": 1, "y": "中"}, {"k": "v"})])
    _tamper(platform, sql, m=ALICE)
    with platform.uow() as ctx:
        ctx.session.execute(text("ANALYZE subscription_event"))
        texts, ranges, walked = _both_ways(ctx)
    for report in (texts, ranges, walked):
        if seq is None:
            assert report.ok, report.first_bad
        else:
            assert not report.ok
            assert (report.first_bad["table"], report.first_bad["chain_seq"]) == ("subscription_event", seq)
            assert why in report.first_bad["why"]


def test_a_detail_is_stored_in_its_canonical_form(platform):
    """JSON columns are written as db.canonical_json writes them, so SQL can hash a detail as
    stored (rows written otherwise are rebuilt from their parsed value, see above)."""
    from mingbai.db import canonical_json
    from mingbai.subscriptions.shared import record_events

    detail = {"z": 1, "a": "中文", "m": None}
    with platform.uow() as ctx:
        record_events(ctx, [_event(ctx, detail, ctx.now())])
    with platform.uow() as ctx:
        stored = ctx.session.execute(
            text("SELECT CAST(detail AS text) FROM subscription_event WHERE msisdn = :m AND detail IS NOT NULL"),
            {"m": ALICE},
        ).scalar()
        assert stored == canonical_json(detail) == '{"a":"中文","m":null,"z":1}'
        assert chain.verify_database(ctx).ok
