"""The chain verified on every backend (SQLite, PostgreSQL and Citus, where the rows stream from
the shards through the coordinator): the walk of text rows agrees with the walk of typed rows,
and a changed or removed MO is named as the first bad row."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mingbai.disputes import chain
from tests.disputes.conftest import subscribed
from tests.helpers import ALICE, BOB, owner_uow


def _history(platform) -> None:
    subscribed(platform)
    subscribed(platform, msisdn=BOB, service="QQ-TONES")
    platform.receive_many([(ALICE, "10086", "0000"), (BOB, "10086", "hello"), (ALICE, "10086", "help")])


def _typed(ctx, msisdn=None):
    return chain.combine([chain.verify_rows(t, chain._stream(ctx, t, msisdn)) for t in chain.CHAINED])


def test_every_way_of_walking_agrees(platform, monkeypatch):
    _history(platform)
    walked_shards: list[str] = []
    shards = chain._shards

    def spy(ctx, table, *, always):
        found = shards(ctx, table, always=always)
        walked_shards.extend(s for _, _, s in found)
        return found

    monkeypatch.setattr(chain, "_shards", spy)
    with platform.uow() as ctx:
        citus = ctx.citus
        whole = chain.verify_database(ctx, heads=True)
        alice = chain.verify_database(ctx, msisdn=ALICE)
        told: list[tuple[str, int, int]] = []
        ranges = chain.verify_database(
            ctx, parallel=2, heads=True, on_part=lambda t, parts, found: told.append((t, parts, found.rows_checked))
        )
        bare = chain.verify_database(ctx)
        typed, typed_alice = _typed(ctx), _typed(ctx, ALICE)
    assert whole.ok and whole.chains == 4 and whole.rows_checked > 8
    assert whole == ranges == typed
    # the progress callback heard of every part of every table, and the parts add up
    assert {t for t, _, _ in told} == set(chain.CHAINED) and sum(n for *_, n in told) == whole.rows_checked
    assert all(parts == sum(1 for u, _, _ in told if u == t) for t, parts, _ in told)
    assert bare.heads is None and (bare.ok, bare.rows_checked, bare.chains) == (True, whole.rows_checked, 4)
    assert alice == typed_alice and alice.chains == 2
    # on Citus the parallel walk reads every shard on its worker (32 of each table here)
    assert (len(walked_shards) >= 2 * 2) if citus else not walked_shards


@pytest.mark.parametrize(
    ("sql", "table", "why"),
    [
        ("UPDATE mo_message SET text = '0001' WHERE msisdn = :m AND text = '0000'", "mo_message", "altered"),
        ("DELETE FROM mo_message WHERE msisdn = :m AND chain_seq = 1", "mo_message", "missing"),
    ],
)
def test_a_change_is_named_on_every_backend(platform, sql, table, why):
    _history(platform)
    with owner_uow(platform) as ctx:
        if ctx.dialect == "postgresql":  # past the append-only trigger, as only the owner can
            ctx.session.execute(text("SET LOCAL session_replication_role = replica"))
        ctx.session.execute(text(sql), {"m": ALICE})
    with platform.uow() as ctx:
        for report in (chain.verify_database(ctx), chain.verify_database(ctx, parallel=2), _typed(ctx)):
            assert not report.ok and report.first_bad is not None
            assert (report.first_bad["table"], report.first_bad["msisdn"]) == (table, ALICE)
            assert why in report.first_bad["why"]
        assert chain.verify_database(ctx, msisdn=BOB).ok
