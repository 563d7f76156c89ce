"""Benchmark of the subscription core (issue 2). Not a test: prints figures for docs/PERFORMANCE.md.

    .venv/bin/python bench/core.py --backend pg --subscriptions 10000000 --subscribers 4000000
    .venv/bin/python bench/core.py --backend sqlite --subscriptions 1000000 --subscribers 400000

Measures, on a database of its own (PostgreSQL: database ``bench_core``, dropped unless --keep):
  1. "0000" to 10086 for random subscribers through the service layer (record MO, list, remember
     the menu, write and deliver the reply): p50 / p99 latency;
  2. complete order → code SMS → code reply → subscription flows, through the service layer in
     N worker processes, and over HTTP against ``mingbai serve --workers 2``;
  3. the 21st–25th reminder pass over the subscribers with orders this month, against a plain
     INSERT … SELECT of as many outbox rows (the physical reference), and a second pass.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from mingbai.clock import SHANGHAI, FixedClock
from mingbai.config import Settings
from mingbai.errors import MingbaiError
from mingbai.messaging.inbound import MoResult
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.subscriptions import reminders
from mingbai.subscriptions.service import OrderRequest, place_order, place_orders

PG_ADMIN = os.environ.get("MINGBAI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FLOW_AT = datetime(2026, 4, 15, 10, 0, tzinfo=SHANGHAI)
REMIND_AT = datetime(2026, 4, 21, 9, 0, tzinfo=SHANGHAI)
N_SERVICES = 200


def msisdn(i: int) -> str:
    return f"139{i:08d}"


def setup_database(args: argparse.Namespace) -> str:
    if args.backend == "pg":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_core"))
            c.execute(text("CREATE DATABASE bench_core"))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/bench_core"
    else:
        d = Path(tempfile.mkdtemp(prefix="bench_core_"))
        url = f"sqlite:///{d / 'bench.db'}"
    upgrade(url)
    return url


def load(url: str, args: argparse.Namespace) -> float:
    """Catalog, subscribers and subscriptions generated set-based in the database."""
    pg = url.startswith("postgresql")
    engine = create_engine(url)
    t0 = time.perf_counter()
    series = (
        "generate_series(0, :n - 1) AS g(i)"
        if pg
        else "(WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < :n) SELECT i FROM g) AS g"
    )
    ts = "now()" if pg else "'2026-01-01 00:00:00'"
    pad = "lpad(CAST(i AS text), 8, '0')" if pg else "substr('00000000' || i, -8, 8)"
    with engine.begin() as c:
        c.execute(
            text(
                f"INSERT INTO sp (code, name, hotline, status, credit_points, created_at, updated_at) SELECT 'SP' || i, 'SP' || i, '4000000' || i, 'active', 100, {ts}, {ts} FROM {series}"
            ),
            {"n": 20},
        )
        c.execute(
            text(
                "INSERT INTO service (code, sp_code, name, type, billing, price_fen, scope, status, reminder_label, created_at, updated_at) "
                f"SELECT 'S' || i, 'SP' || (i % 20), '业务' || i, 'sms', CASE WHEN i % 10 = 9 THEN 'per_use' ELSE 'monthly' END, "
                f"100 * (1 + i % 10), 'national', 'active', 'SP' || (i % 20) || '提供的业务' || i || '短信业务,信息费' || (1 + i % 10) || '元/月', {ts}, {ts} FROM {series}"
            ),
            {"n": N_SERVICES},
        )
        c.execute(
            text(
                "INSERT INTO service (code, sp_code, name, type, billing, price_fen, scope, status, reminder_label, created_at, updated_at) "
                f"VALUES ('BENCH-FLOW', 'SP0', '压测业务', 'sms', 'monthly', 500, 'national', 'active', 'SP0提供的压测业务短信业务,信息费5元/月', {ts}, {ts})"
            )
        )
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO subscriber (msisdn, brand, province, status, created_at, updated_at) "
                f"SELECT '139' || {pad}, CASE i % 3 WHEN 0 THEN 'gotone' WHEN 1 THEN 'mzone' ELSE 'easyown' END, '湖南', 'active', {ts}, {ts} FROM {series}"
            ),
            {"n": args.subscribers},
        )
    print(f"  subscribers: {args.subscribers:,} in {time.perf_counter() - t0:.1f}s", flush=True)
    # subscription i belongs to subscriber i % M and service (i % M * 7 + i / M) % N: distinct per subscriber.
    # Subscribers 0 .. K-1 confirmed their first subscription this month (April 2026); the rest earlier.
    m, k = args.subscribers, args.month_subscribers
    chunk = 2_000_000
    for start in range(0, args.subscriptions, chunk):
        n = min(chunk, args.subscriptions - start)
        if pg:
            confirmed = (
                "CASE WHEN j < :k THEN timestamptz '2026-04-01 02:00+08' + (j % 1000) * interval '1 minute' "
                "ELSE timestamptz '2024-04-01 00:00+08' + (j % 700) * interval '1 day' END"
            )
            first = "CASE WHEN j < :k THEN date '2026-05-01' ELSE date '2024-06-01' END"
            sub_msisdn = "'139' || lpad(CAST(s AS text), 8, '0')"
            inner = f"SELECT i + :start AS j, (i + :start) % :m AS s FROM {series}"
        else:
            confirmed = "CASE WHEN j < :k THEN datetime('2026-03-31 18:00:00', '+' || (j % 1000) || ' minutes') ELSE datetime('2024-03-31 16:00:00', '+' || (j % 700) || ' days') END"
            first = "CASE WHEN j < :k THEN '2026-05-01' ELSE '2024-06-01' END"
            sub_msisdn = "'139' || substr('00000000' || s, -8, 8)"
            inner = f"SELECT i + :start AS j, (i + :start) % :m AS s FROM {series}"
        svc = "'S' || ((s * 7 + j / :m) % " + str(N_SERVICES) + ")"
        billing = f"CASE WHEN (s * 7 + j / :m) % {N_SERVICES} % 10 = 9 THEN 'per_use' ELSE 'monthly' END"
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO subscription (msisdn, id, service_code, sp_code, order_id, channel, status, billing, price_fen, "
                    "trial, first_charge_on, ordered_at, confirmed_at) "
                    f"SELECT {sub_msisdn}, 1000 + j, {svc}, 'SP' || ((s * 7 + j / :m) % {N_SERVICES} % 20), 1000 + j, 'sp', 'active', "
                    f"{billing}, 500, true, {first}, {confirmed}, {confirmed} FROM ({inner}) AS q"
                ),
                {"n": n, "start": start, "m": m, "k": k},
            )
        print(f"  subscriptions: {start + n:,} in {time.perf_counter() - t0:.1f}s", flush=True)
    with engine.begin() as c:
        c.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":
        # the load leaves gigabytes of dirty pages; measure the steady state, not the checkpoint
        # that writes them out (its fsyncs stall every commit for seconds)
        with engine.connect() as c:
            c.execute(text("CHECKPOINT"))
    engine.dispose()
    return time.perf_counter() - t0


def settings(url: str) -> Settings:
    return Settings(database_url=url, code_secret="bench")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def bench_query(url: str, args: argparse.Namespace) -> dict[str, float]:
    platform = Platform(settings(url), clock=FixedClock(FLOW_AT))
    rnd = random.Random(7)
    for _ in range(50):  # warm the pool and caches
        platform.receive_sms(msisdn(rnd.randrange(args.subscribers)), "10086", "0000")
    samples = []
    for _ in range(args.queries):
        m = msisdn(rnd.randrange(args.subscribers))
        t = time.perf_counter()
        result = platform.receive_sms(m, "10086", "0000")
        samples.append((time.perf_counter() - t) * 1000)
        assert result.handled_as == "query" and result.replies
    platform.db.engine.dispose()
    return {"p50_ms": statistics.median(samples), "p99_ms": pct(samples, 99), "n": len(samples)}


#: who places the flows' orders: an SP (``sp:SP0``), whose orders are staff actions and audited
#: (issue 16), or ``bench``, which is not (the A/B of the audit's cost: ``--actor``)
ACTOR = "sp:SP0"


def _flow_worker(url: str, first: int, count: int, batch: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Orders placed through the service layer, confirmed by code replies through the MO path:
    one at a time (``batch`` 1: ``place_order`` + ``receive_sms``) or in batches, as an SMSC
    under load delivers them (``place_orders`` + ``receive_many``)."""
    platform = Platform(settings(url), clock=FixedClock(FLOW_AT))
    done = 0
    t0 = time.perf_counter()
    for start in range(first, first + count, batch):
        numbers = [msisdn(i) for i in range(start, min(start + batch, first + count))]
        with platform.uow() as ctx:
            if batch == 1:
                place_order(ctx, msisdn=numbers[0], service_code="BENCH-FLOW", channel="sp", actor=ACTOR)
            else:
                placed = place_orders(ctx, [OrderRequest(m, "BENCH-FLOW", "sp", ACTOR) for m in numbers])
                assert not any(isinstance(p, MingbaiError) for p in placed), placed[:3]
        codes = {o.msisdn: re.search(r"验证码(\d{6})", o.text).group(1) for o in ctx.enqueued}  # type: ignore[union-attr]
        if batch == 1:
            results: list[MoResult | MingbaiError] = [platform.receive_sms(numbers[0], "10086", codes[numbers[0]])]
        else:
            results = platform.receive_many([(m, "10086", codes[m]) for m in numbers])
        for r in results:
            assert isinstance(r, MoResult) and r.handled_as == "code_confirmed", r
        done += len(numbers)
    out.put((done, time.perf_counter() - t0))
    platform.db.engine.dispose()


def bench_flows(url: str, args: argparse.Namespace, offset: int, batch: int, flows: int) -> dict[str, float]:
    per = flows // args.workers
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_flow_worker, args=(url, offset + w * per, per, batch, q)) for w in range(args.workers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    done = sum(r[0] for r in results)
    return {"flows": done, "seconds": wall, "per_second": done / wall, "workers": args.workers, "batch": batch}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_worker(base: str, first: int, count: int, batch: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import httpx

    headers = {"X-API-Key": "bench-smsc"}
    done = 0
    t0 = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for start in range(first, first + count, batch):
            numbers = [msisdn(i) for i in range(start, min(start + batch, first + count))]
            if batch == 1:
                m = numbers[0]
                r = client.post("/api/v1/sms/mo", json={"from": m, "to": "10661234", "text": "BF"})
                code = re.search(r"验证码(\d{6})", r.json()["replies"][-1]["text"]).group(1)  # type: ignore[union-attr]
                r = client.post("/api/v1/sms/mo", json={"from": m, "to": "10086", "text": code})
                assert r.json()["handled_as"] == "code_confirmed", r.text
            else:
                orders = [{"from": m, "to": "10661234", "text": "BF"} for m in numbers]
                r = client.post("/api/v1/sms/mo/batch", json={"messages": orders})
                codes = [re.search(r"验证码(\d{6})", x["replies"][-1]["text"]).group(1) for x in r.json()["results"]]  # type: ignore[union-attr]
                replies = [{"from": m, "to": "10086", "text": c} for m, c in zip(numbers, codes, strict=True)]
                r = client.post("/api/v1/sms/mo/batch", json={"messages": replies})
                assert all(x["handled_as"] == "code_confirmed" for x in r.json()["results"]), r.text[:300]
            done += len(numbers)
    out.put((done, time.perf_counter() - t0))


def bench_http(url: str, args: argparse.Namespace, offset: int, batch: int, flows: int) -> dict[str, float]:
    from mingbai.auth.service import create_key

    platform = Platform(settings(url), clock=FixedClock(FLOW_AT))
    with platform.uow() as ctx:
        ctx.session.execute(text("UPDATE sp SET access_number = '10661234' WHERE code = 'SP0'"))
        ctx.session.execute(text("UPDATE service SET code = code, mo_keyword = 'BF' WHERE code = 'BENCH-FLOW'"))
        ctx.session.execute(text("DELETE FROM api_key WHERE label = 'bench'"))
        create_key(ctx, role="smsc", label="bench", key="bench-smsc")
    platform.db.engine.dispose()
    port = _free_port()
    env = dict(
        os.environ,
        MINGBAI_DATABASE_URL=url,
        MINGBAI_NOW=FLOW_AT.isoformat(),
        MINGBAI_CODE_SECRET="bench",
        MINGBAI_TICK_SECONDS="3600",
    )
    mingbai = shutil.which("mingbai") or str(Path(sys.executable).parent / "mingbai")
    server = subprocess.Popen(
        [mingbai, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        per = flows // args.http_clients
        q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        ctx = mp.get_context("fork")
        procs = [
            ctx.Process(target=_http_worker, args=(base, offset + w * per, per, batch, q))
            for w in range(args.http_clients)
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        results = [q.get() for _ in procs]
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    done = sum(r[0] for r in results)
    return {"flows": done, "seconds": wall, "per_second": done / wall, "clients": args.http_clients, "batch": batch}


def bench_reminders(url: str) -> dict[str, float]:
    platform = Platform(settings(url), clock=FixedClock(REMIND_AT))
    pg = url.startswith("postgresql")
    with platform.uow() as ctx:
        t = time.perf_counter()
        written = reminders.send_monthly_reminders(ctx).written
    first = time.perf_counter() - t
    with platform.uow() as ctx:
        t = time.perf_counter()
        again = reminders.send_monthly_reminders(ctx).written
    second = time.perf_counter() - t
    # physical reference: the same number of outbox rows from a plain INSERT … SELECT, no aggregation
    with platform.uow() as ctx:
        t = time.perf_counter()
        ref = ctx.session.execute(
            text(
                "INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at) "
                "SELECT msisdn, 7, '10086', 'reference text of a typical reminder length, about ninety characters long......', "
                "'reference', 'numbered', 'reference', 'queued', :now, :now FROM subscriber LIMIT :n"
            ),
            {"n": written, "now": REMIND_AT if pg else REMIND_AT.replace(tzinfo=None)},
        ).rowcount
        ref_s = time.perf_counter() - t
        ctx.session.execute(text("DELETE FROM sms_outbox WHERE kind = 'reference'"))
    platform.db.engine.dispose()
    return {
        "written": written,
        "seconds": first,
        "per_second": written / first,
        "second_pass_written": again,
        "second_pass_seconds": second,
        "reference_rows": ref,
        "reference_seconds": ref_s,
        "ratio_to_reference": (written / first) / (ref / ref_s),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["pg", "sqlite"], default="pg")
    ap.add_argument("--subscriptions", type=int, default=10_000_000)
    ap.add_argument("--subscribers", type=int, default=4_000_000)
    ap.add_argument("--month-subscribers", type=int, default=1_000_000, help="subscribers with orders this month")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--flows", type=int, default=6000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--http-flows", type=int, default=2000)
    ap.add_argument("--http-clients", type=int, default=4)
    ap.add_argument(
        "--batch",
        default="1,200",
        help="flows one at a time (1) and/or MOs in batches of N, as an SMSC under load delivers them",
    )
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument(
        "--actor",
        default="sp:SP0",
        help="who places the flows' orders: sp:SP0 (audited, the default) or bench (not audited), for an A/B",
    )
    ap.add_argument("--keep", action="store_true", help="keep the bench database (PostgreSQL)")
    ap.add_argument("--reuse", action="store_true", help="reuse a kept database: skip loading (PostgreSQL)")
    args = ap.parse_args()
    global ACTOR
    ACTOR = args.actor  # the flow workers are forked: they see it
    print(
        f"bench/core.py {args.backend}: {args.subscriptions:,} subscriptions over {args.subscribers:,} subscribers; "
        f"{args.month_subscribers:,} with orders this month",
        flush=True,
    )
    if args.reuse and args.backend == "pg":
        url = PG_ADMIN.rsplit("/", 1)[0] + "/bench_core"
        with create_engine(url).begin() as c:  # a rerun starts from the loaded state
            for table in (
                "sub_order",
                "subscription_event",
                "sms_outbox",
                "mo_message",
                "unsubscribe_menu",
                "audit_entry",
            ):
                c.execute(text(f"TRUNCATE {table}"))
            c.execute(text("UPDATE audit_head SET seq = 0, hash = repeat('0', 64)"))
            c.execute(text("DELETE FROM subscription WHERE service_code = 'BENCH-FLOW'"))
            c.execute(text("DELETE FROM api_key"))
            c.execute(text("UPDATE sp SET access_number = NULL"))
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text("VACUUM ANALYZE"))
            c.execute(text("CHECKPOINT"))
    else:
        url = setup_database(args)
        print(f"load: {load(url, args):.1f}s", flush=True)
    print("0000 reply (service layer):", bench_query(url, args), flush=True)
    print("reminder pass:", bench_reminders(url), flush=True)
    offset = args.month_subscribers + 1
    for batch in [int(b) for b in args.batch.split(",")]:
        # one at a time is ~10x slower: a tenth of the flows gives it as long a run
        flows = args.flows if batch > 1 else max(args.workers, args.flows // 10)
        result = bench_flows(url, args, offset, batch, flows)
        print("order→code→subscription (service layer):", result, flush=True)
        offset += flows + 1
    if not args.skip_http:
        for batch in [int(b) for b in args.batch.split(",")]:
            flows = args.http_flows if batch > 1 else max(args.http_clients, args.http_flows // 10)
            result = bench_http(url, args, offset, batch, flows)
            print("order→code→subscription (HTTP, 2 workers):", result, flush=True)
            offset += flows + 1
    if not args.keep and args.backend == "pg":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_core WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
