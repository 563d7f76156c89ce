"""Benchmark of disputes and the consent evidence (issue 15). Not a test: prints figures for
docs/PERFORMANCE.md.

    .venv/bin/python bench/disputes.py --subscriptions 10000000 --subscribers 4000000 --charges 6000000
    .venv/bin/python bench/disputes.py --subscriptions 1000000 --subscribers 400000 --charges 600000

On a PostgreSQL database of its own (``bench_disputes``, dropped unless --keep), loaded set-based:
SPs and services, subscribers, one confirmed order per subscription with the MO that confirmed
it (``sub_order.confirm_mo_id``), the subscriptions, a month's charges for the first
``--charges`` subscriptions, and for ``--sample`` subscribers a year of history (twelve monthly
charges per subscription, events, fifty MOs). Then it measures:

  1. opening a dispute and getting the decision with its evidence at the service layer
     (``open_dispute`` in its own unit of work, commit included): p50 / p99;
  2. the same over HTTP (``POST /api/v1/subscribers/{m}/disputes`` against ``mingbai serve``);
  3. ``mingbai audit consent`` (one set-based pass) over every charge;
  4. hash-chain verification in process (rows/s): the walk over rows in memory, one process
     and one per core;
  5. ``verify_database`` over ``--chain-rows`` chained MOs and a fifth as many chained events:
     text rows walked in one process per core and on one connection, the walk of typed rows,
     and the same rows only read (the reference), in the same run (``--verify``).

``--keep`` / ``--reuse`` / ``--only`` / ``--skip`` run parts on a kept database, so two checkouts
can be measured alternately on the same data (docs/PERFORMANCE.md, the A/B of issue 15).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from mingbai.clock import SHANGHAI, FixedClock
from mingbai.config import Settings
from mingbai.migrate import upgrade
from mingbai.platform import Platform

PG_ADMIN = os.environ.get("MINGBAI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 4, 15, 10, 0, tzinfo=SHANGHAI)
N_SERVICES = 200
#: id ranges per table, so every row's id is known from its subscription number
SUB, ORDER, MO, CHARGE, YEAR, EVENT, QMO = (10**12 * k for k in range(1, 8))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def setup(args: argparse.Namespace) -> str:
    url = PG_ADMIN.rsplit("/", 1)[0] + "/bench_disputes"
    if args.reuse:
        return url
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS bench_disputes"))
        c.execute(text("CREATE DATABASE bench_disputes"))
    admin.dispose()
    upgrade(url)
    return url


def load(url: str, args: argparse.Namespace) -> None:
    engine = create_engine(url)
    t0 = time.perf_counter()
    m, n, k = args.subscribers, args.subscriptions, args.sample
    pad = "lpad(CAST(s AS text), 8, '0')"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO sp (code, name, hotline, access_number, status, credit_points, created_at, updated_at) "
                "SELECT 'SP' || i, 'SP' || i, '4000000' || i, '1066' || (1000 + i), 'active', 100, now(), now() "
                "FROM generate_series(0, 19) AS i"
            )
        )
        c.execute(
            text(
                "INSERT INTO service (code, sp_code, name, type, billing, price_fen, scope, status, reminder_label, "
                "created_at, updated_at) SELECT 'S' || i, 'SP' || (i % 20), '业务' || i, 'sms', 'monthly', 500, "
                "'national', 'active', '业务' || i, now(), now() FROM generate_series(0, :n - 1) AS i"
            ),
            {"n": N_SERVICES},
        )
        c.execute(
            text(
                "INSERT INTO subscriber (msisdn, brand, province, status, created_at, updated_at) "
                "SELECT '137' || lpad(CAST(i AS text), 8, '0'), 'gotone', '湖南', 'active', now(), now() "
                "FROM generate_series(0, :m - 1) AS i"
            ),
            {"m": m},
        )
    print(f"  subscribers {m:,}: {time.perf_counter() - t0:.0f}s", flush=True)
    # subscription j: subscriber j % m, service (j / m) % 200 (distinct per subscriber), confirmed
    # 2025-01-10 by the MO MO+j; orders ORDER+j; a March 2026 fee for j < --charges
    chunk = 1_000_000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        q = "SELECT i + :start AS j, (i + :start) % :m AS s FROM generate_series(0, :size - 1) AS i"
        at = "timestamptz '2025-01-10 10:00+08' + (j % 1000) * interval '1 second'"
        with engine.begin() as c:
            p = {"start": start, "m": m, "size": size}
            c.execute(
                text(
                    "INSERT INTO mo_message (msisdn, id, recipient, text, received_at, handled_as) "
                    f"SELECT '137' || {pad}, {MO} + j, '10086', '123456', {at}, 'code_confirmed' FROM ({q}) AS q"
                ),
                p,
            )
            c.execute(
                text(
                    "INSERT INTO sub_order (msisdn, id, service_code, sp_code, channel, status, price_fen, created_at, "
                    "expires_at, decided_at, code_mac, attempts, actor, confirm_mo_id) "
                    f"SELECT '137' || {pad}, {ORDER} + j, 'S' || ((j / :m) % {N_SERVICES}), "
                    f"'SP' || ((j / :m) % {N_SERVICES} % 20), 'sp', 'confirmed', 500, {at} - interval '1 minute', "
                    f"{at} + interval '29 minutes', {at}, 'x', 0, 'bench', {MO} + j FROM ({q}) AS q"
                ),
                p,
            )
            c.execute(
                text(
                    "INSERT INTO subscription (msisdn, id, service_code, sp_code, order_id, channel, status, billing, "
                    "price_fen, trial, first_charge_on, ordered_at, confirmed_at) "
                    f"SELECT '137' || {pad}, {SUB} + j, 'S' || ((j / :m) % {N_SERVICES}), "
                    f"'SP' || ((j / :m) % {N_SERVICES} % 20), {ORDER} + j, 'sp', 'active', 'monthly', 500, true, "
                    f"date '2025-02-01', {at} - interval '1 minute', {at} FROM ({q}) AS q"
                ),
                p,
            )
            c.execute(
                text(
                    "INSERT INTO charge (msisdn, id, subscription_id, service_code, sp_code, kind, period, usage_ref, "
                    "amount_fen, quantity, batch_id, created_at, occurred_at) "
                    f"SELECT '137' || {pad}, {CHARGE} + j, {SUB} + j, 'S' || ((j / :m) % {N_SERVICES}), "
                    f"'SP' || ((j / :m) % {N_SERVICES} % 20), 'monthly', '2026-03', '', 500, 1, 1, "
                    "timestamptz '2026-03-01 00:05+08', timestamptz '2026-03-01 00:00+08' "
                    f"FROM ({q}) AS q WHERE j < :charges"
                ),
                {**p, "charges": args.charges},
            )
        print(f"  subscriptions {start + size:,}: {time.perf_counter() - t0:.0f}s", flush=True)
    # a year of history for the sample subscribers 0 .. k-1
    with engine.begin() as c:
        sample = "SELECT j, j % :m AS s FROM generate_series(0, :n - 1) AS j WHERE j % :m < :k"
        c.execute(
            text(
                "INSERT INTO charge (msisdn, id, subscription_id, service_code, sp_code, kind, period, usage_ref, "
                "amount_fen, quantity, batch_id, created_at, occurred_at) "
                f"SELECT '137' || {pad}, {YEAR} + j * 100 + mo, {SUB} + j, 'S' || ((j / :m) % {N_SERVICES}), "
                f"'SP' || ((j / :m) % {N_SERVICES} % 20), 'monthly', "
                "to_char(date '2025-03-01' + mo * interval '1 month', 'YYYY-MM'), '', 500, 1, 1, "
                "timestamptz '2025-03-01 00:05+08' + mo * interval '1 month', "
                "timestamptz '2025-03-01 00:00+08' + mo * interval '1 month' "
                f"FROM ({sample}) AS q CROSS JOIN generate_series(0, 11) AS mo"
            ),
            {"m": m, "n": n, "k": k},
        )
        c.execute(
            text(
                "INSERT INTO subscription_event (msisdn, id, at, kind, service_code, order_id, subscription_id, actor, "
                "channel) "
                f"SELECT '137' || {pad}, {EVENT} + j * 10 + e, timestamptz '2025-01-10 10:00+08' + e * interval '1 second', "
                "(ARRAY['order_placed', 'order_confirmed', 'subscribed'])[e + 1], "
                f"'S' || ((j / :m) % {N_SERVICES}), {ORDER} + j, {SUB} + j, 'bench', 'sp' "
                f"FROM ({sample}) AS q CROSS JOIN generate_series(0, 2) AS e"
            ),
            {"m": m, "n": n, "k": k},
        )
        c.execute(
            text(
                "INSERT INTO mo_message (msisdn, id, recipient, text, received_at, handled_as) "
                f"SELECT '137' || lpad(CAST(s AS text), 8, '0'), {QMO} + s * 100 + x, '10086', '0000', "
                "timestamptz '2025-04-01 09:00+08' + x * interval '7 days', 'query' "
                "FROM generate_series(0, :k - 1) AS s CROSS JOIN generate_series(0, 49) AS x"
            ),
            {"k": k},
        )
        c.execute(text("ANALYZE"))
    with engine.connect() as c:
        c.execute(text("CHECKPOINT"))
    engine.dispose()
    print(f"  loaded in {time.perf_counter() - t0:.0f}s", flush=True)


def settings(url: str) -> Settings:
    return Settings(database_url=url, code_secret="bench", tick_seconds=3600)


def targets(url: str, args: argparse.Namespace, count: int, skip: int) -> list[tuple[str, int]]:
    """(msisdn, charge id) of sample subscribers' year-old charges, one per subscriber first."""
    out = []
    rng = random.Random(7 + skip)
    per_sub = args.subscriptions // args.subscribers
    for x in range(skip, skip + count):
        s = x % args.sample
        j = s + args.subscribers * rng.randrange(per_sub)
        month = (x // args.sample) % 12
        out.append((f"137{s:08d}", YEAR + j * 100 + month))
    return out


def bench_service(url: str, args: argparse.Namespace) -> dict[str, float]:
    from mingbai.disputes.service import open_dispute

    platform = Platform(settings(url), clock=FixedClock(NOW))
    timings = []
    rules: dict[str, int] = {}
    for m, cid in targets(url, args, args.disputes, args.skip):
        t = time.perf_counter()
        with platform.uow() as ctx:
            view = open_dispute(ctx, msisdn=m, channel="hotline", actor="bench", charge_ids=[cid], keep_service=True)
            evidence = view.evidence
        timings.append((time.perf_counter() - t) * 1000)
        assert evidence and view.items
        key = view.rule or view.status
        rules[key] = rules.get(key, 0) + 1
    platform.db.engine.dispose()
    print(f"  decisions: {rules}", flush=True)
    return {
        "n": len(timings),
        "p50_ms": pct(timings, 50),
        "p99_ms": pct(timings, 99),
        "mean_ms": statistics.mean(timings),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_http(url: str, args: argparse.Namespace) -> dict[str, float]:
    import httpx

    from mingbai.auth.service import create_key

    platform = Platform(settings(url), clock=FixedClock(NOW))
    with platform.uow() as ctx:
        ctx.session.execute(text("DELETE FROM api_key WHERE label = 'bench-agent'"))
        create_key(ctx, role="agent", label="bench-agent", key="bench-agent")
    platform.db.engine.dispose()
    port = _free_port()
    env = dict(os.environ, MINGBAI_DATABASE_URL=url, MINGBAI_NOW=NOW.isoformat(), MINGBAI_TICK_SECONDS="3600")
    mingbai = shutil.which("mingbai") or str(Path(sys.executable).parent / "mingbai")
    server = subprocess.Popen(
        [mingbai, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    timings = []
    try:
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, headers={"X-API-Key": "bench-agent"}, timeout=60) as client:
            for m, cid in targets(url, args, args.http_disputes, args.skip + args.disputes):
                t = time.perf_counter()
                r = client.post(f"/api/v1/subscribers/{m}/disputes", json={"charge_ids": [cid], "keep_service": True})
                timings.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 201, r.text[:300]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    return {"n": len(timings), "p50_ms": pct(timings, 50), "p99_ms": pct(timings, 99)}


def bench_audit(url: str) -> dict[str, Any]:
    from mingbai.disputes.audit import audit_consent

    platform = Platform(settings(url), clock=FixedClock(NOW))
    with platform.uow() as ctx:
        plan = "\n".join(
            r[0]
            for r in ctx.session.execute(
                text(
                    "EXPLAIN SELECT count(*) FROM charge c LEFT JOIN subscription s ON s.msisdn = c.msisdn "
                    "AND s.id = c.subscription_id LEFT JOIN sub_order o ON o.msisdn = s.msisdn AND o.id = s.order_id "
                    "LEFT JOIN mo_message m ON m.msisdn = c.msisdn AND m.id = o.confirm_mo_id"
                )
            )
        )
    t = time.perf_counter()
    with platform.uow() as ctx:
        report = audit_consent(ctx)
    seconds = time.perf_counter() - t
    platform.db.engine.dispose()
    return {
        "charges_checked": report.charges_checked,
        "orphans": report.orphan_count,
        "seconds": seconds,
        "plan_top": plan.splitlines()[0],
    }


def _chain_rows(n: int, per_chain: int) -> list[tuple[Any, ...]]:
    """Chained MOs as *text rows*, what the database hands the walk (and a bundle decodes to)."""
    from mingbai import hashchain

    rows = []
    at = datetime(2026, 4, 10, 2, tzinfo=UTC)
    for c in range(n // per_chain):
        m = f"138{c:08d}"
        prev = hashchain.genesis("mo_message", m)
        for i in range(per_chain):
            r = {
                "msisdn": m,
                "id": c * 1000 + i,
                "recipient": "10086",
                "text": "0000",
                "received_at": at + (NOW - at) * i / per_chain,
                "handled_as": "query",
            }
            prev = hashchain.row_hash(prev, "mo_message", r)
            rows.append(hashchain.text_row("mo_message", {**r, "chain_seq": i + 1, "chain_hash": prev}))
    return rows


_ROWS: list[tuple[Any, ...]] = []


def _verify_part(span: tuple[int, int]) -> int:
    from mingbai import hashchain

    # a forked worker reads the parent's rows in place (copy-on-write), nothing is pickled
    assert hashchain.verify_texts("mo_message", _ROWS[span[0] : span[1]]).ok
    return span[1] - span[0]


def bench_chain(args: argparse.Namespace) -> dict[str, float]:
    """The walk itself, in process: rows already in memory, one process, then one per core."""
    import gc

    from mingbai import hashchain

    _ROWS[:] = _chain_rows(args.chain_rows, 50)
    gc.disable()  # as verify_database does
    t = time.perf_counter()
    assert hashchain.verify_texts("mo_message", _ROWS).ok
    one = len(_ROWS) / (time.perf_counter() - t)
    # chains are independent: split on a subscriber boundary, one process per core
    cores = os.cpu_count() or 1
    step = (len(_ROWS) // cores // 50) * 50
    spans = [(i * step, (i + 1) * step if i < cores - 1 else len(_ROWS)) for i in range(cores)]
    with mp.get_context("fork").Pool(cores) as pool:
        t = time.perf_counter()
        done = sum(pool.map(_verify_part, spans))
        many = done / (time.perf_counter() - t)
    gc.enable()
    return {"rows": len(_ROWS), "one_process_rows_per_s": one, "all_cores_rows_per_s": many, "cores": cores}


def _chained(n_rows: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``n_rows`` chained MOs (50 per subscriber, numbers 136…) and a fifth as many chained
    events with a detail, hashed as the writers hash them: rows to copy in, the detail as the
    application writes a JSON column (db.canonical_json)."""
    from mingbai import hashchain
    from mingbai.db import canonical_json

    at = datetime(2026, 4, 10, 2, tzinfo=UTC)
    mos: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for c in range(n_rows // 50):
        m = f"136{c:08d}"
        prev = hashchain.genesis("mo_message", m)
        for i in range(50):
            r = {
                "msisdn": m,
                "id": QMO * 2 + c * 100 + i,
                "recipient": "10086",
                "text": "0000",
                "received_at": at + i * (NOW - at) / 50,
                "handled_as": "query",
            }
            prev = hashchain.row_hash(prev, "mo_message", r)
            mos.append((*r.values(), i + 1, prev))
        prev = hashchain.genesis("subscription_event", m)
        for i in range(10):
            e = {
                "msisdn": m,
                "id": EVENT * 2 + c * 100 + i,
                "at": at,
                "kind": "order_placed",
                "service_code": "S1",
                "order_id": ORDER + c,
                "subscription_id": None,
                "actor": "subscriber",
                "channel": "sms",
                "detail": {"price_fen": 500, "gifter": None, "note": "包月"},
            }
            prev = hashchain.row_hash(prev, "subscription_event", e)
            events.append((*list(e.values())[:-1], canonical_json(e["detail"]), i + 1, prev))
    return mos, events


_MO_COLS = "msisdn, id, recipient, text, received_at, handled_as, chain_seq, chain_hash"
_EVENT_COLS = (
    "msisdn, id, at, kind, service_code, order_id, subscription_id, actor, channel, detail, chain_seq, chain_hash"
)


def load_chains(url: str, args: argparse.Namespace) -> None:
    """The chained rows of :func:`_chained`, copied in."""
    engine = create_engine(url)
    t0 = time.perf_counter()
    mos, events = _chained(args.chain_rows)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, rows in (("mo_message", _MO_COLS, mos), ("subscription_event", _EVENT_COLS, events)):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as c:
        c.execute(text("ANALYZE mo_message"))
        c.execute(text("ANALYZE subscription_event"))
        c.commit()
    engine.dispose()
    print(f"  chained rows loaded in {time.perf_counter() - t0:.0f}s", flush=True)


def bench_chain_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    """``verify_database`` on SQLite (a file of its own holding only the chained rows), beside
    the same text rows only read from sqlite3."""
    import tempfile

    from mingbai.disputes import chain

    folder = Path(tempfile.mkdtemp(prefix="bench_chain_"))
    url = f"sqlite:///{folder / 'chain.db'}"
    upgrade(url)
    mos, events = _chained(args.chain_rows)

    def naive(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
        # what db.UtcDateTime stores on SQLite: naive UTC text with six fraction digits
        t = row[at].astimezone(UTC).replace(tzinfo=None)
        return (*row[:at], t.strftime("%Y-%m-%d %H:%M:%S.%f"), *row[at + 1 :])

    platform = Platform(settings(url), clock=FixedClock(NOW))
    with platform.uow() as ctx:
        raw = ctx.driver
        raw.executemany(
            f"INSERT INTO mo_message ({_MO_COLS}) VALUES ({', '.join('?' * 8)})", (naive(r, 4) for r in mos)
        )
        raw.executemany(
            f"INSERT INTO subscription_event ({_EVENT_COLS}) VALUES ({', '.join('?' * 12)})",
            (naive(r, 2) for r in events),
        )
    out: dict[str, Any] = {}
    with platform.uow() as ctx:
        raw = ctx.driver
        t = time.perf_counter()
        n = 0
        for table in chain.CHAINED:
            cur = raw.execute(chain._text_select(table, "sqlite", ""))
            while part := cur.fetchmany(10_000):
                n += len(part)
        read = time.perf_counter() - t
        t = time.perf_counter()
        report = chain.verify_database(ctx)
        walk = time.perf_counter() - t
    assert report.ok and report.rows_checked == n, report
    out["read_only_reference"] = {"rows": n, "seconds": round(read, 2), "rows_per_s": round(n / read)}
    out["walk"] = {"rows": n, "seconds": round(walk, 2), "rows_per_s": round(n / walk)}
    platform.db.engine.dispose()
    shutil.rmtree(folder)
    return out


def _read_only(ctx: Any) -> Any:
    """The physical reference: the same text rows through the same cursor, not hashed."""
    from mingbai.disputes import chain

    n = 0
    for table in chain.CHAINED:
        with ctx.driver.cursor(name="ref") as cur:
            cur.execute(chain._text_select(table, "postgresql", ""))
            while part := cur.fetchmany(10_000):
                n += len(part)
    return chain.Verification(True, n, 0)


def bench_chain_db(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """``verify_database`` over every chain: text rows walked on MSISDN ranges in one process
    per core, then on one connection; the walk of typed rows (datetimes, parsed JSON) through
    SQLAlchemy; and the reference, the same rows only read."""
    from mingbai.disputes import chain

    platform = Platform(settings(url), clock=FixedClock(NOW))
    out: dict[str, Any] = {}
    for label, run in (
        ("read_only_reference", _read_only),
        ("parallel", lambda ctx: chain.verify_database(ctx)),
        ("one_connection", lambda ctx: chain.verify_database(ctx, parallel=1)),
        (
            "typed_walk",
            lambda ctx: chain.combine([chain.verify_rows(t, chain._stream(ctx, t, None)) for t in chain.CHAINED]),
        ),
    ):
        if label not in args.verify:
            continue
        with platform.uow() as ctx:
            t = time.perf_counter()
            report = run(ctx)
            seconds = time.perf_counter() - t
        assert report.ok, report.first_bad
        out[label] = {
            "rows": report.rows_checked,
            "seconds": round(seconds, 2),
            "rows_per_s": round(report.rows_checked / seconds),
        }
        print(f"  {label}: {out[label]}", flush=True)
    platform.db.engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscriptions", type=int, default=10_000_000)
    ap.add_argument("--subscribers", type=int, default=4_000_000)
    ap.add_argument("--charges", type=int, default=6_000_000)
    ap.add_argument("--sample", type=int, default=200, help="subscribers with a year of history")
    ap.add_argument("--disputes", type=int, default=1000)
    ap.add_argument("--http-disputes", type=int, default=300)
    ap.add_argument("--chain-rows", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse a kept database (skip loading)")
    ap.add_argument(
        "--only",
        default="audit,service,http,chain,chain_db",
        help="which figures (audit,service,http,chain,chain_db,chain_sqlite)",
    )
    ap.add_argument(
        "--skip", type=int, default=0, help="start the disputed charges this far on (runs on a kept database)"
    )
    ap.add_argument(
        "--verify",
        default="read_only_reference,parallel,one_connection,typed_walk",
        help="chain_db variants (read_only_reference,parallel,one_connection,typed_walk)",
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    on_pg = bool(only - {"chain", "chain_sqlite"})  # those two need no PostgreSQL database
    url = setup(args) if on_pg else ""
    if on_pg and not args.reuse:
        load(url, args)
        if "chain_db" in only:
            load_chains(url, args)
    if "audit" in only:
        print("audit consent:", bench_audit(url), flush=True)
    if "service" in only:
        print("open + decide, service layer:", bench_service(url, args), flush=True)
    if "http" in only:
        print("open + decide, HTTP:", bench_http(url, args), flush=True)
    if "chain" in only:
        print("chain verification in memory:", bench_chain(args), flush=True)
    if "chain_db" in only:
        print("chain verification of the database:", bench_chain_db(url, args), flush=True)
    if "chain_sqlite" in only:
        print("chain verification of a SQLite database:", bench_chain_sqlite(args), flush=True)
    if on_pg and not args.keep:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_disputes"))
        admin.dispose()


if __name__ == "__main__":
    main()
