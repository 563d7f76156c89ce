"""Mingbai on Citus beside single-node PostgreSQL (issue 14). Not a test: prints figures and plans
for docs/PERFORMANCE.md and docs/citus.md.

    bash scripts/citus start
    .venv/bin/python bench/citus.py figures --subscriptions 2000000 --subscribers 800000
    .venv/bin/python bench/citus.py explain          # the set-based passes' plans on Citus
    .venv/bin/python bench/citus.py rebalance        # add a worker and move shards while orders flow
    .venv/bin/python bench/citus.py chain --chain-rows 1000000   # chain verification, shard by shard

``figures`` loads the same synthetic population (bench/core.py's) into a database of its own on
single-node PostgreSQL (``bench_citus``, 127.0.0.1:5432) and on the Citus coordinator, then
measures on each: complete order flows (order, code SMS, code reply) per second, "0000" p50/p99,
and the billing run; on Citus also the share of the order flow's statements that are single-shard
router queries (each captured statement is EXPLAINed: one task = one shard), and whether the
billing run's statements are pushed down to every shard.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import core
from mingbai.charging.billing import run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.db import make_engine
from mingbai.messaging import outbox
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.subscriptions import reminders
from mingbai.subscriptions.service import place_order

PG_ADMIN = os.environ.get("MINGBAI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CITUS_ADMIN = os.environ.get("MINGBAI_BENCH_CITUS", "postgresql+psycopg://postgres@127.0.0.1:9700/mingbai")
APRIL = parse_billing_period("2026-04")
BILL_AT = datetime(2026, 5, 1, 0, 5, tzinfo=SHANGHAI)


# -- databases --------------------------------------------------------------------------------------


def pg_database() -> str:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS bench_citus"))
        c.execute(text("CREATE DATABASE bench_citus"))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/bench_citus"


def citus_schema(name: str) -> str:
    """A fresh schema on the coordinator (Citus propagates it to the workers)."""
    admin = create_engine(CITUS_ADMIN)
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        c.execute(text(f"CREATE SCHEMA {name}"))
    admin.dispose()
    return f"{CITUS_ADMIN}?options=-csearch_path%3D{name}"


# -- statement capture and plans -------------------------------------------------------------------


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine runs inside the block, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if executemany and isinstance(parameters, list | tuple) and parameters:
            parameters = parameters[0]
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", hook)


def explain(engine: Engine, statement: str, parameters: Any) -> str:
    """EXPLAIN of one captured statement (in a transaction rolled back: nothing runs)."""
    import psycopg

    raw = engine.raw_connection()
    try:
        # parameters inlined on the client: Citus cannot plan an EXPLAIN of a generic ($1) statement
        with psycopg.ClientCursor(raw.driver_connection) as cur:  # type: ignore[arg-type]
            cur.execute("EXPLAIN " + statement, parameters or None)
            plan = "\n".join(r[0] for r in cur.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return plan


def explain_on_a_shard(engine: Engine, statement: str, parameters: Any) -> str:
    """The plan of the command the billing run's chunk-bound statement runs on each worker, as one
    worker EXPLAINs it (FORMAT JSON: ``master_run_on_worker`` returns one value per worker)."""
    import json

    import psycopg

    shown = statement.replace("'SELECT min(m) FROM ('", "'EXPLAIN (FORMAT JSON) SELECT min(m) FROM ('", 1)
    raw = engine.raw_connection()
    try:
        with psycopg.ClientCursor(raw.driver_connection) as cur:  # type: ignore[arg-type]
            cur.execute(shown, parameters or None)
            row = cur.fetchone()
        raw.rollback()
    finally:
        raw.close()
    assert row is not None and row[0], row
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        head = node["Node Type"]
        if "Index Name" in node:
            head += f" using {node['Index Name']} on {node['Relation Name']}"
        elif "Relation Name" in node:
            head += f" on {node['Relation Name']}"
        lines.append((" " * (6 * depth - 4) + "->  " if depth else "") + head)  # as EXPLAIN's text format
        for key in ("Index Cond", "Filter"):
            if key in node:
                lines.append(" " * (6 * depth + 2) + f"{key}: {node[key]}")
        children = node.get("Plans", [])
        for child in children[:1] if head == "Append" else children:
            walk(child, depth + 1)
        if head == "Append" and len(children) > 1:
            lines.append(" " * (6 * depth + 2) + f"->  … the same for each of the worker's {len(children)} shards")

    walk(json.loads(row[0])[0]["Plan"], 0)
    return "\n".join(lines)


def classify(plan: str) -> str:
    """router (one shard), multi-shard (pushed down to N shards), pulled (rows through the
    coordinator: a subplan/intermediate result over a distributed table or a repartition), local."""
    if "master_run_on_worker" in plan:
        return "on the workers, one row back per worker"
    if "Citus" not in plan:
        return "local"
    counts = [int(n) for n in re.findall(r"Task Count: (\d+)", plan)]
    if "repartition" in plan.lower() or "Pull to coordinator" in plan or "INSERT/SELECT method: pull" in plan:
        return "pulled"
    if counts and max(counts) == 1:
        return "router"
    return f"multi-shard ({max(counts) if counts else '?'} tasks)"


# -- figures ---------------------------------------------------------------------------------------


def order_flow_router_share(url: str, first: int, n: int) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Run ``n`` order flows (order, code, "0000", unsubscribe) with every statement captured, then
    EXPLAIN each: how many went to one shard."""
    platform = Platform(core.settings(url), clock=FixedClock(core.FLOW_AT))
    engine = platform.db.engine
    with captured(engine) as seen:
        for i in range(first, first + n):
            m = core.msisdn(i)
            with platform.uow() as ctx:
                place_order(ctx, msisdn=m, service_code="BENCH-FLOW", channel="sp", actor="bench")
            code = re.search(r"验证码(\d{6})", ctx.enqueued[-1].text).group(1)  # type: ignore[union-attr]
            assert platform.receive_sms(m, "10086", code).handled_as == "code_confirmed"
            platform.receive_sms(m, "10086", "0000")
    kinds: Counter[str] = Counter()
    examples: list[tuple[str, str]] = []
    for statement, params in seen:
        head = statement.lstrip().split(None, 1)[0].upper()
        if head not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            continue  # BEGIN/COMMIT/SET
        kind = classify(explain(engine, statement, params))
        if kind == "local" and re.search(r"\bFROM (service|sp|platform_key|api_key)\b", statement):
            kind = "reference"
        kinds[kind] += 1
        if kind not in ("router", "reference") and len(examples) < 5:
            examples.append((kind, " ".join(statement.split())[:160]))
    engine.dispose()
    return kinds, examples


def billing_run(url: str, explain_plans: bool = False) -> dict[str, Any]:
    clock = FixedClock(BILL_AT)
    platform = Platform(core.settings(url), clock=clock)
    engine = platform.db.engine
    t0 = time.perf_counter()
    with captured(engine) as seen:
        summary = run_billing(platform, APRIL, actor="bench", chunk_size=20_000)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"seconds": seconds, "charged": summary.charged, "per_second": summary.charged / seconds}
    if explain_plans:
        plans: dict[str, str] = {}
        for statement, params in seen:
            flat = " ".join(statement.split())
            for name, needle in (
                ("charge", "INSERT INTO charge"),
                ("remind", "INSERT INTO sms_outbox"),
                ("progress", "UPDATE billing_run SET charged"),
                ("bound", "master_run_on_worker"),
                ("summary", "GROUP BY 1"),
            ):
                if needle in flat and name not in plans:
                    plans[name] = explain(engine, statement, params)
                    if name == "bound":
                        plans[name] += "\n-- the command each worker runs, as one plans it:\n" + explain_on_a_shard(
                            engine, statement, params
                        )
        out["plans"] = plans
    engine.dispose()
    return out


def cmd_figures(args: argparse.Namespace) -> None:
    rows: dict[str, dict[str, Any]] = {}
    for backend in args.backends.split(","):
        print(f"== {backend}", flush=True)
        url = pg_database() if backend == "pg" else citus_schema("bench_citus")
        t0 = time.perf_counter()
        upgrade(url)
        print(f"  schema in {time.perf_counter() - t0:.1f}s", flush=True)
        core.load(url, args)
        r: dict[str, Any] = {}
        r["0000"] = core.bench_query(url, args)
        print(f"  0000: {r['0000']}", flush=True)
        offset = args.month_subscribers + 1  # subscribers without this month's orders, as bench/core.py
        for batch in (1, 100):
            flows = args.flows if batch > 1 else max(args.workers, args.flows // 10)
            r[f"flows{batch}"] = core.bench_flows(url, args, offset=offset, batch=batch, flows=flows)
            offset += flows + 1
            print(f"  order flows, batch {batch}: {r[f'flows{batch}']}", flush=True)
        args.share_offset = offset
        r["billing"] = billing_run(url, explain_plans=backend == "citus")
        print(f"  billing run: { {k: v for k, v in r['billing'].items() if k != 'plans'} }", flush=True)
        if backend == "citus":
            kinds, examples = order_flow_router_share(url, args.share_offset, args.share_flows)
            r["share"] = kinds
            print(f"  order-flow statements by kind: {dict(kinds)}", flush=True)
            for kind, sql in examples:
                print(f"    {kind}: {sql}")
            for name, plan in r["billing"]["plans"].items():
                print(f"  billing plan ({name}): {classify(plan)}")
                print("    " + plan.replace("\n", "\n    "))
        rows[backend] = r
    print("\n| | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows))
    for batch in (1, 100):
        print(
            f"| order flows/s, batch {batch} | "
            + " | ".join(f"{r[f'flows{batch}']['per_second']:.0f}" for r in rows.values())
            + " |"
        )
    print(
        '| "0000" p50 / p99 ms | '
        + " | ".join(f"{r['0000']['p50_ms']:.1f} / {r['0000']['p99_ms']:.1f}" for r in rows.values())
        + " |"
    )
    print(
        "| billing run s (charges/s) | "
        + " | ".join(f"{r['billing']['seconds']:.1f} ({r['billing']['per_second']:.0f})" for r in rows.values())
        + " |"
    )


# -- explain ---------------------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> None:
    """Small population on Citus, then the plans of the billing run, the 21st reminder pass and
    the outbox reconciliation (each captured from the real code path, then EXPLAINed)."""
    url = citus_schema("explain_citus")
    upgrade(url)
    core.load(url, args)
    bill = billing_run(url, explain_plans=True)
    for name, plan in bill["plans"].items():
        print(f"### billing run: {name} — {classify(plan)}\n```\n{plan}\n```\n")
    remind_at = datetime(2026, 4, 21, 9, 0, tzinfo=SHANGHAI)
    platform = Platform(core.settings(url), clock=FixedClock(remind_at))
    engine = platform.db.engine
    passes: list[tuple[str, Callable[[Any], Any]]] = [
        ("21st reminder pass", lambda ctx: reminders.send_monthly_reminders(ctx)),
        (
            "reconcile lost runs",
            lambda ctx: outbox.reconcile_lost_runs(ctx, run_id="r", doubt_wait=timedelta(minutes=5)),
        ),
        ("release doubts", lambda ctx: outbox.release_doubts(ctx)),
    ]
    for name, work in passes:
        with captured(engine) as seen, platform.uow() as ctx:
            work(ctx)
        for statement, params in seen:
            if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE"):
                plan = explain(engine, statement, params)
                print(f"### {name} — {classify(plan)}\n```\n{plan}\n```\n")
    engine.dispose()


def cmd_chain(args: argparse.Namespace) -> None:
    """Chain verification on Citus: ``--chain-rows`` chained MOs and a fifth as many events
    (bench/disputes.py's rows) copied into the distributed tables, then ``verify_database`` with
    each shard walked on its worker (one process per core) and on one connection through the
    coordinator, beside the same rows only read through the coordinator."""
    import disputes
    from mingbai.disputes import chain

    url = citus_schema("bench_chain")
    upgrade(url)
    mos, events = disputes._chained(args.chain_rows)
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, rows in (
            ("mo_message", disputes._MO_COLS, mos),
            ("subscription_event", disputes._EVENT_COLS, events),
        ):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        raw.commit()
        cur.execute("ANALYZE mo_message")
        cur.execute("ANALYZE subscription_event")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    platform = Platform(core.settings(url), clock=FixedClock(datetime(2026, 4, 15, 10, tzinfo=SHANGHAI)))
    for label, run in (
        ("read_only_reference", disputes._read_only),
        ("shards_on_their_workers", lambda ctx: chain.verify_database(ctx)),
        ("one_connection", lambda ctx: chain.verify_database(ctx, parallel=1)),
    ):
        with platform.uow() as ctx:
            t = time.perf_counter()
            report = run(ctx)
            seconds = time.perf_counter() - t
        assert report.ok, report.first_bad
        print(f"{label}: {report.rows_checked:,} rows in {seconds:.2f}s = {report.rows_checked / seconds:,.0f} rows/s")
    platform.db.engine.dispose()


# -- rebalance -------------------------------------------------------------------------------------


def cmd_rebalance(args: argparse.Namespace) -> None:
    """Add a worker (scripts/citus add-worker) and move shards onto it with citus_rebalance_start
    while a thread keeps placing and confirming orders; every order must succeed."""
    import subprocess

    url = citus_schema("rebalance_citus")
    upgrade(url)
    core.load(url, args)
    engine = make_engine(url)

    def placements() -> dict[str, int]:
        with engine.connect() as c:
            return dict(
                c.execute(
                    text(
                        "SELECT nodename || ':' || nodeport, count(*) FROM citus_shards "
                        "WHERE table_name = 'subscription'::regclass GROUP BY 1 ORDER BY 1"
                    )
                ).all()
            )

    print(f"subscription shards per node before: {placements()}", flush=True)
    stop = threading.Event()
    done: list[int] = [0]
    errors: list[BaseException] = []

    def orders() -> None:
        platform = Platform(core.settings(url), clock=FixedClock(core.FLOW_AT))
        i = args.month_subscribers + 1  # subscribers without this month's orders
        while not stop.is_set():
            m = core.msisdn(i)
            try:
                with platform.uow() as ctx:
                    place_order(ctx, msisdn=m, service_code="BENCH-FLOW", channel="sp", actor="bench")
                code = re.search(r"验证码(\d{6})", ctx.enqueued[-1].text).group(1)  # type: ignore[union-attr]
                assert platform.receive_sms(m, "10086", code).handled_as == "code_confirmed"
                done[0] += 1
            except BaseException as exc:
                errors.append(exc)
            i += 1
        platform.db.engine.dispose()

    flow = threading.Thread(target=orders)
    flow.start()
    time.sleep(2)
    added = subprocess.run(["bash", "scripts/citus", "add-worker"], capture_output=True, text=True, check=True)
    print(f"added worker: {added.stdout.strip()} ({added.stderr.strip()})", flush=True)
    before = done[0]
    t0 = time.perf_counter()
    admin = create_engine(CITUS_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        print(f"citus_rebalance_start: {c.execute(text('SELECT citus_rebalance_start()')).scalar()}", flush=True)
        while True:
            state = c.execute(text("SELECT state FROM citus_rebalance_status()")).scalar()
            if state in ("finished", "failed", "cancelled"):
                break
            time.sleep(1)
    print(f"rebalance {state} in {time.perf_counter() - t0:.1f}s; orders confirmed meanwhile: {done[0] - before}")
    time.sleep(2)
    stop.set()
    flow.join()
    print(f"subscription shards per node after: {placements()}")
    with engine.connect() as c:
        confirmed = c.execute(text("SELECT count(*) FROM subscription WHERE service_code = 'BENCH-FLOW'")).scalar()
    print(f"orders confirmed during the test: {done[0]}, errors: {len(errors)}, BENCH-FLOW subscriptions: {confirmed}")
    for exc in errors[:3]:
        print(f"  error: {exc!r}")
    engine.dispose()
    admin.dispose()
    if errors or confirmed != done[0] or state != "finished":
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["figures", "explain", "rebalance", "chain"])
    ap.add_argument("--chain-rows", type=int, default=1_000_000)
    ap.add_argument("--subscriptions", type=int, default=None)
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--month-subscribers", type=int, default=None)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--flows", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--share-flows", type=int, default=20, help="order flows whose statements are EXPLAINed")
    ap.add_argument("--backends", default="pg,citus")
    args = ap.parse_args()
    small = args.command != "figures"
    args.subscriptions = args.subscriptions or (20_000 if small else 2_000_000)
    args.subscribers = args.subscribers or args.subscriptions * 2 // 5
    args.month_subscribers = args.month_subscribers or args.subscribers // 4
    commands = {"figures": cmd_figures, "explain": cmd_explain, "rebalance": cmd_rebalance, "chain": cmd_chain}
    commands[args.command](args)


if __name__ == "__main__":
    main()
