"""On Citus: where every table lives after ``mingbai db upgrade``, the guarantees that had to change
mechanism (append-only events, unique keys), and that the order flow is single-shard router
queries only. The flows themselves run on Citus in the CITUS_MODULES of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from mingbai.all_models import metadata
from mingbai.citus import ANCHOR, REFERENCE_TABLES, citus_tables, placement
from mingbai.clock import FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine, shard_groups
from mingbai.demo import DEMO_CATALOG
from mingbai.ids import new_id
from mingbai.messaging.gateways import LoopbackGateway
from mingbai.migrate import distribute
from mingbai.platform import Platform
from tests.conftest import _platform, _truncate_pg, owner_url
from tests.helpers import ALICE, BOB, code_from, last_delivered, subscribe

pytestmark = pytest.mark.citus


@pytest.fixture
def url(citus_schema_url: str) -> str:
    _truncate_pg(citus_schema_url)
    return citus_schema_url


@pytest.fixture
def citus_platform(url: str, clock: FixedClock, gateway: LoopbackGateway) -> Iterator[Platform]:
    yield from _platform(url, clock, gateway)


def test_placement_covers_every_table_and_the_subscriber_scoped_ones_are_distributed():
    plan = placement(metadata)
    assert plan.distributed[0] == ANCHOR
    assert {"subscription", "subscription_event", "sub_order", "charge", "sms_outbox"} <= set(plan.distributed)
    assert {"sp", "service"} <= set(plan.reference) and set(plan.reference) <= set(REFERENCE_TABLES)
    assert {"billing_run", "web_session", "sms_gateway_lease"} <= set(plan.local)
    assert sorted(plan.distributed + plan.reference + plan.local) == sorted(metadata.tables)
    for name in plan.distributed:
        assert "msisdn" in {c.name for c in metadata.tables[name].primary_key.columns}


def test_upgrade_distributes_every_subscriber_table_co_located_with_subscriber(url):
    engine = make_engine(url)
    plan = placement(metadata)
    with engine.connect() as conn:
        kinds = citus_tables(conn)
        groups = dict(
            conn.execute(
                text(
                    "SELECT c.relname, p.colocationid FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
                    "WHERE c.relnamespace = to_regnamespace(current_schema()) AND p.partmethod = 'h'"
                )
            ).all()
        )
        columns = dict(
            conn.execute(
                text(
                    "SELECT c.relname, column_to_column_name(p.logicalrelid, p.partkey) FROM pg_dist_partition p "
                    "JOIN pg_class c ON c.oid = p.logicalrelid "
                    "WHERE c.relnamespace = to_regnamespace(current_schema()) AND p.partmethod = 'h'"
                )
            ).all()
        )
    engine.dispose()
    assert {n: kinds.get(n) for n in plan.distributed} == {n: "distributed" for n in plan.distributed}
    assert {n: kinds.get(n) for n in plan.reference} == {n: "reference" for n in plan.reference}
    assert not set(plan.local) & set(kinds)
    assert set(groups.values()) == {groups[ANCHOR]}, "one co-location group"
    assert set(columns.values()) == {"msisdn"}


def test_a_second_upgrade_has_nothing_left_to_distribute(url):
    assert distribute(owner_url(url)) == []


def test_subscription_events_stay_append_only_on_every_shard(citus_platform):
    subscribe(citus_platform, ALICE)
    subscribe(citus_platform, BOB)
    engine = citus_platform.db.engine
    owner = make_engine(owner_url(citus_platform.settings.database_url))
    for statement in (
        "UPDATE subscription_event SET kind = 'x' WHERE msisdn = :m",  # a router query
        "DELETE FROM subscription_event WHERE msisdn = :m",
        "UPDATE subscription_event SET kind = 'x'",  # every shard
        "DELETE FROM subscription_event",
    ):
        with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:  # the app role
            conn.execute(text(statement), {"m": ALICE})
        with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:  # the trigger, on every shard
            conn.execute(text(statement), {"m": ALICE})
    owner.dispose()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT msisdn) FROM subscription_event")).scalar() == 2


def test_unique_keys_carry_the_msisdn_and_still_refuse_a_duplicate(url):
    engine = make_engine(url)
    with engine.connect() as conn:
        defs = dict(
            conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname IN ('ix_spam_report_id', 'ix_spam_review_id', 'uq_campaign_target_seq')"
                )
            ).all()
        )
    assert len(defs) == 3 and all("UNIQUE" in d and "msisdn" in d for d in defs.values()), defs
    row = {"m": ALICE, "c": new_id()}
    insert = text(
        "INSERT INTO campaign_target (msisdn, campaign_id, batch_no, seq, kind_group, recent, subscriptions) "
        "VALUES (:m, :c, :b, 7, 'all', false, 1)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {**row, "b": 1})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {**row, "b": 2})  # the same subscriber twice at one place in the order
    engine.dispose()


def test_the_order_flow_is_single_shard_router_queries_only(url, clock):
    """``citus.multi_task_query_log_level = error`` turns every statement that would touch more
    than one shard into an error: the whole flow (order, code reply, "0000", menu reply,
    unsubscribe) passes under it."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _strict(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute("SET citus.multi_task_query_log_level = error")
        dbapi_conn.commit()

    gateway = LoopbackGateway()
    settings = Settings(database_url=url, code_secret="test-secret", tick_seconds=1)
    seed = Platform(settings, clock=clock, gateway=gateway, database=Database(make_engine(url)))
    from mingbai.catalog.service import import_catalog
    from mingbai.demo import DEMO_CATALOG

    with seed.uow() as ctx:
        import_catalog(ctx, DEMO_CATALOG)
    seed.db.engine.dispose()
    p = Platform(settings, clock=clock, gateway=gateway, database=Database(engine))
    placed = p.receive_sms(ALICE, "10668888", "XW")
    assert placed.replies, placed
    code = code_from(last_delivered(p, ALICE))  # replies hold the code redacted (issue 12)
    assert p.receive_sms(ALICE, "10086", code).handled_as == "code_confirmed"
    menu = p.receive_sms(ALICE, "10086", "0000")
    assert "头条新闻" in menu.replies[-1].text
    assert p.receive_sms(ALICE, "10086", "1").handled_as.startswith("unsub")
    with pytest.raises(DBAPIError, match="multi-task"), engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM subscription"))  # the guard is on: a fan-out fails
    engine.dispose()


def test_a_batch_of_orders_over_many_shards_locks_its_subscribers_shard_by_shard(citus_platform):
    """place_orders locks every subscriber of the batch; on Citus a many-shard FOR UPDATE is
    refused, so the lock is taken one shard at a time (it failed here before)."""
    from mingbai.subscriptions.orders import OrderRequest, place_orders

    numbers = [s["msisdn"] for s in DEMO_CATALOG["subscribers"]]
    with citus_platform.uow() as ctx:
        groups = shard_groups(ctx, "subscriber", numbers)
        placed = place_orders(ctx, [OrderRequest(m, "SINA-NEWS", "sp", "test") for m in numbers])
    assert len(groups) > 1, "the demo subscribers should span shards"
    assert [p.status for p in placed] == ["pending"] * len(numbers), placed


def test_the_app_role_and_its_grants_reach_every_shard(url):
    """Citus propagates the application role and its grants to the workers: on every shard of an
    append-only table it may INSERT and SELECT, never UPDATE, DELETE or TRUNCATE."""
    from tests.conftest import APP_ROLE

    on_workers = f"SELECT count(*) FROM pg_roles WHERE rolname = '{APP_ROLE}'"
    checks = ", ".join(
        f"has_table_privilege('{APP_ROLE}', x.t, '{p}')" for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
    )
    on_shards = f"SELECT concat_ws(',', {checks}) FROM (SELECT CAST('%s' AS regclass) AS t) x"
    engine = make_engine(owner_url(url))
    with engine.connect() as conn:
        roles = conn.execute(text("SELECT result FROM run_command_on_workers(:c)"), {"c": on_workers}).scalars().all()
        assert len(roles) >= 2 and set(roles) == {"1"}
        for table, allowed in (("subscription_event", "t,t,f,f,f"), ("subscription", "t,t,t,t,f")):
            seen = (
                conn.execute(
                    text("SELECT DISTINCT result FROM run_command_on_shards(:t, :c)"), {"t": table, "c": on_shards}
                )
                .scalars()
                .all()
            )
            assert seen == [allowed], (table, seen)
    engine.dispose()
