"""The audit log on SQLite and PostgreSQL: appends chain, verify finds the first altered entry,
a number is found by its MAC and stored only masked, and a signed checkpoint catches a cut tail."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mingbai.audit import service as audit
from mingbai.platform import Platform
from tests.helpers import ALICE, owner_uow


def _fill(platform: Platform, n: int) -> None:
    with platform.uow() as ctx:
        audit.record_many(
            ctx,
            [
                audit.Action("agent:alice", "agent", "subscriber.view", subject_msisdn=ALICE, address="10.0.0.1")
                if i % 2
                else audit.Action(
                    "operator:bob",
                    "operator",
                    "catalog.price",
                    subject="service:SINA-NEWS",
                    detail={"from": 200, "to": 2000},
                )
                for i in range(n)
            ],
        )


def test_appends_chain_and_verify(platform: Platform) -> None:
    _fill(platform, 10)
    with platform.uow() as ctx:
        seq = audit.record(ctx, actor="security:carol", role="security", action="vault.approve", subject_msisdn=ALICE)
        report = audit.verify(ctx)
    assert seq == 11
    assert report.ok and report.entries == 11 and report.first_bad is None


def test_number_only_masked_and_searchable(platform: Platform) -> None:
    _fill(platform, 6)
    with platform.uow() as ctx:
        stored = ctx.conn.execute(text("SELECT subject, subject_mac, detail FROM audit_entry")).all()
        found = audit.search(ctx, msisdn=ALICE)
        by_staff = audit.search(ctx, staff="alice")
    assert all(ALICE not in " ".join(map(str, r)) for r in stored)
    assert len(found) == 3 and {f.subject for f in found} == {ALICE[:3] + "****" + ALICE[-4:]}
    assert [f.actor for f in by_staff] == ["agent:alice"] * 3


def test_altered_entry_is_named(platform: Platform) -> None:
    _fill(platform, 8)
    with owner_uow(platform) as ctx:
        # what a superuser or a file editor could still do: go around the trigger
        if ctx.dialect == "postgresql":
            ctx.conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
            ctx.conn.execute(text("UPDATE audit_entry SET detail = replace(detail, '2000', '20') WHERE seq = 5"))
            ctx.conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
        else:
            ctx.conn.execute(text("DROP TRIGGER audit_entry_no_update"))
            ctx.conn.execute(text("UPDATE audit_entry SET detail = replace(detail, '2000', '20') WHERE seq = 5"))
    with platform.uow() as ctx:
        report = audit.verify(ctx)
    assert not report.ok and report.first_bad == 5


def test_checkpoint_catches_a_cut_tail(platform: Platform) -> None:
    _fill(platform, 5)
    with platform.uow() as ctx:
        kept = audit.checkpoint(ctx)
    assert kept.seq == 5 and kept.signature_ok()
    with owner_uow(platform) as ctx:
        if ctx.dialect == "postgresql":
            ctx.conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        else:
            ctx.conn.execute(text("DROP TRIGGER audit_entry_no_delete"))
        ctx.conn.execute(text("DELETE FROM audit_entry WHERE seq >= 4"))
        ctx.conn.execute(text("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_entry WHERE seq = 3)"))
    with platform.uow() as ctx:
        own = audit.verify(ctx)  # the database's own checkpoint
        kept_outside = audit.verify(ctx, external=[kept])  # and the auditor's copy
    assert not own.ok and own.first_bad == 4
    assert not kept_outside.ok and kept_outside.first_bad == 4


def test_the_tick_signs_the_head_every_n_entries_or_minutes(platform: Platform) -> None:
    import dataclasses
    from datetime import timedelta

    from mingbai.clock import FixedClock

    platform.settings = dataclasses.replace(platform.settings, audit_checkpoint_minutes=10, audit_checkpoint_entries=50)
    clock = platform.clock
    assert isinstance(clock, FixedClock)
    assert platform.tick().extra["audit_checkpoint"] == 0  # an empty chain: nothing to sign
    _fill(platform, 10)
    assert platform.tick().extra["audit_checkpoint"] == 0  # neither 50 entries nor 10 minutes yet
    clock.advance(timedelta(minutes=10))
    assert platform.tick().extra["audit_checkpoint"] == 10  # 10 minutes since the first entry
    assert platform.tick().extra["audit_checkpoint"] == 0  # the head did not move
    _fill(platform, 50)
    assert platform.tick().extra["audit_checkpoint"] == 60  # 50 entries since the last one
    _fill(platform, 1)
    clock.advance(timedelta(minutes=9))
    assert platform.tick().extra["audit_checkpoint"] == 0
    clock.advance(timedelta(minutes=1))
    assert platform.tick().extra["audit_checkpoint"] == 61
    with platform.uow() as ctx:
        report = audit.verify(ctx)
    assert report.ok and report.checkpoints == 3


def _tamper(platform: Platform, sql: str) -> None:
    with owner_uow(platform) as ctx:
        if ctx.dialect == "postgresql":
            ctx.conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
            ctx.conn.execute(text(sql))
            ctx.conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
        else:
            ctx.conn.execute(text("DROP TRIGGER audit_entry_no_update"))
            ctx.conn.execute(text("DROP TRIGGER audit_entry_no_delete"))
            ctx.conn.execute(text(sql))


@pytest.mark.parametrize(
    ("sql", "first_bad"),
    [
        ("SELECT 1", None),
        ("UPDATE audit_entry SET actor = 'agent:alicf' WHERE seq = 17", 17),
        ("DELETE FROM audit_entry WHERE seq = 9", 9),
        ("DELETE FROM audit_entry WHERE seq = 10", 10),  # the first of a range
        ("DELETE FROM audit_entry WHERE seq IN (18, 19)", 18),  # a range's end
        ("UPDATE audit_entry SET seq = seq + 1000 WHERE seq = 12", 12),
        ("UPDATE audit_entry SET at = at + interval '1 microsecond' WHERE seq = 3", 3),
    ],
)
def test_sql_and_python_agree(
    pg_platform: Platform, monkeypatch: pytest.MonkeyPatch, sql: str, first_bad: int | None
) -> None:
    """On PostgreSQL the chain is checked in SQL, in parallel ranges sharing one snapshot; its
    verdicts are the Python walk's, entry for entry."""
    _fill(pg_platform, 25)
    monkeypatch.setattr(audit, "_SQL_RANGE", 9)  # ranges 1-9, 10-18, 19-25 on three connections
    _tamper(pg_platform, sql)
    with pg_platform.uow() as ctx:
        in_sql = audit.verify(ctx, in_sql=True)
        in_python = audit.verify(ctx, in_sql=False)
    assert in_sql.first_bad == in_python.first_bad == first_bad, (in_sql, in_python)
    assert in_sql.ok == in_python.ok == (first_bad is None)
    if first_bad is None:
        assert in_sql.entries == in_python.entries == 25 and in_sql.head == in_python.head


def test_a_price_changed_by_a_catalog_import_is_on_record(demo: Platform) -> None:
    """The brief's example: a price moved from 200 to 2000 fen by a staff import leaves its entry
    (the import reads the old prices of services that already exist)."""
    import copy

    from mingbai.catalog.service import import_catalog
    from mingbai.demo import DEMO_CATALOG

    doc = copy.deepcopy(DEMO_CATALOG)
    service = doc["services"][0]
    old = service["price_fen"]
    service["price_fen"] = old * 10
    with demo.uow() as ctx:
        import_catalog(ctx, doc, actor="operator:bob")
    with demo.uow() as ctx:
        found = audit.search(ctx, action="catalog.price")
    assert [(f.actor, f.subject) for f in found] == [("operator:bob", f"service:{service['code']}")]
    assert f'"from_fen":{old}' in found[0].detail and f'"to_fen":{old * 10}' in found[0].detail
