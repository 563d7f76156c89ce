"""On Citus: the billing run finds where each chunk ends on the workers, one value per shard,
instead of pulling a chunk's worth of MSISDNs from every shard through the coordinator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from mingbai.charging.billing import _BOUND, ChunkResult, run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.simulate import fingerprint, populate
from mingbai.clock import FixedClock
from mingbai.messaging.gateways import LoopbackGateway
from mingbai.platform import Platform
from tests.conftest import _platform, _truncate_pg

pytestmark = pytest.mark.citus

APRIL = parse_billing_period("2026-04")
STRICT = "SET citus.multi_task_query_log_level = error"


@pytest.fixture
def citus_platform(citus_schema_url: str, clock: FixedClock, gateway: LoopbackGateway) -> Iterator[Platform]:
    _truncate_pg(citus_schema_url)
    yield from _platform(citus_schema_url, clock, gateway)


def _is_bound_query(statement: str) -> bool:
    return "OFFSET" in statement and ("master_run_on_worker" in statement or "FROM subscription" in statement)


def test_chunk_bounds_are_found_without_a_multi_shard_pull(citus_platform, clock):
    """Every bound-finding statement of a real run executes under
    ``citus.multi_task_query_log_level = error`` (which fails any statement that the coordinator
    runs as tasks on many shards); the old ``ORDER BY msisdn LIMIT 1 OFFSET n`` does not."""
    engine = citus_platform.db.engine
    with engine.begin() as conn:
        populate(conn, subscriptions=3000, subscribers=1200, period=APRIL)
        most = conn.execute(
            text("SELECT max(n) FROM (SELECT count(*) AS n FROM subscription GROUP BY msisdn) x")
        ).scalar()
    clock.set(APRIL.start + timedelta(minutes=5))
    guarded: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if _is_bound_query(statement):
            with cursor.connection.cursor() as own:
                own.execute(STRICT)
            guarded.append(statement)

    @event.listens_for(engine, "after_cursor_execute")
    def _unguard(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if _is_bound_query(statement):
            with cursor.connection.cursor() as own:
                own.execute("RESET citus.multi_task_query_log_level")

    chunks: list[ChunkResult] = []
    try:
        summary = run_billing(citus_platform, APRIL, actor="test", chunk_size=150, workers=2, on_chunk=chunks.append)
    finally:
        event.remove(engine, "before_cursor_execute", _guard)
        event.remove(engine, "after_cursor_execute", _unguard)
    assert summary.status == "done" and summary.charged == 3000 * 75 // 100 * 8 // 10
    assert len(guarded) >= len(chunks) - 1 >= 3000 // 150
    assert all("master_run_on_worker" in s for s in guarded)
    with engine.connect() as conn:
        assert fingerprint(conn, APRIL.label).unmatched == 0
        # the chunks tile the MSISDN space, and none holds more than a chunk (plus one subscriber)
        spans = sorted((c.lo, c.hi) for c in chunks)
        assert spans[0][0] == "" and spans[-1][1] == "9" * 15
        assert all(a[1] == b[0] for a, b in pairwise(spans))
        for lo, hi in spans:
            n = conn.execute(
                text("SELECT count(*) FROM subscription WHERE msisdn > :lo AND msisdn <= :hi"), {"lo": lo, "hi": hi}
            ).scalar()
            assert n <= 150 + most - 1, (lo, hi, n)

    with pytest.raises(DBAPIError, match="multi-task"), engine.connect() as conn:
        conn.execute(text(STRICT))
        conn.execute(text(_BOUND), {"lo": "", "n": 149})  # what it was: every shard sends 150 MSISDNs
