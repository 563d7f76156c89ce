"""Benchmark of the consoles (issue 6). Not a test: prints figures for docs/PERFORMANCE.md.

    .venv/bin/python bench/consoles.py --orders 2000000

On a PostgreSQL database of its own (``bench_consoles``, dropped unless --keep) it loads
N orders over 30 days (80 % confirmed into subscriptions, 1 in 5 later unsubscribed), N/10
"0000" queries and 2·N reminder SMS, then measures:
  1. the operator dashboard's aggregates (``consoles.dashboard.dashboard``) for 14 and 30 days,
     against the physical reference: one plain COUNT(*) pass over each of the four tables for
     the same range (the least any per-day figure must read);
  2. the agent console's read for one subscriber (``subscription_cards``): p50 / p99;
  3. the SP portal's figures for the biggest SP (``sp_services``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import date, datetime, timedelta

from sqlalchemy import create_engine, text

from mingbai.clock import SHANGHAI, FixedClock, local_midnight
from mingbai.config import Settings
from mingbai.consoles.dashboard import dashboard, sp_services
from mingbai.consoles.views import subscription_cards
from mingbai.demo import DEMO_CATALOG
from mingbai.migrate import upgrade
from mingbai.platform import Platform

PG_ADMIN = os.environ.get("MINGBAI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 4, 30, 18, 0, tzinfo=SHANGHAI)
START = NOW - timedelta(days=30)

LOAD = [
    # orders: spread over 30 days, subscriber i % subscribers, service by i % 6
    """
INSERT INTO sub_order (msisdn, id, service_code, sp_code, channel, gifter, status, price_fen, created_at,
                       expires_at, decided_at, code_mac, attempts, external_ref, actor, mo_id)
SELECT '139' || lpad((i % :subs)::text, 8, '0'), i, s.code, s.sp_code, 'sp', NULL,
       CASE WHEN i % 5 = 0 THEN 'expired' ELSE 'confirmed' END, s.price_fen,
       :start + (i * interval '30 days' / :n), :start + (i * interval '30 days' / :n) + interval '30 minutes',
       :start + (i * interval '30 days' / :n) + interval '2 minutes', 'x', 0, NULL, 'bench', NULL
FROM generate_series(1, :n) AS i
JOIN (SELECT code, sp_code, price_fen, row_number() OVER (ORDER BY code) - 1 AS k FROM service) s ON s.k = i % 6
""",
    """
INSERT INTO subscription (msisdn, id, service_code, sp_code, order_id, channel, gifter, status, billing, price_fen,
                          trial, first_charge_on, ordered_at, confirmed_at, unsubscribed_at, unsubscribe_channel)
SELECT o.msisdn, o.id, o.service_code, o.sp_code, o.id, 'sp', NULL,
       CASE WHEN o.id % 5 = 1 THEN 'unsubscribed' ELSE 'active' END, 'monthly', o.price_fen, false, NULL,
       o.created_at, o.decided_at, CASE WHEN o.id % 5 = 1 THEN o.decided_at + interval '3 days' END,
       CASE WHEN o.id % 5 = 1 THEN 'sms' END
FROM sub_order o WHERE o.status = 'confirmed'
ON CONFLICT DO NOTHING
""",
    """
INSERT INTO mo_message (msisdn, id, recipient, text, received_at, handled_as)
SELECT msisdn, id + 1, '10086', '0000', created_at + interval '1 hour', 'query' FROM sub_order WHERE id % 10 = 0
""",
    """
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at,
                        sent_at, parts, mo_id, gateway_ref)
SELECT msisdn, id * 2 + k, '10086', 'x', CASE k WHEN 0 THEN 'confirmation_request' ELSE 'order_reminder' END,
       'concat', NULL, 'delivered', created_at, created_at, created_at + interval '1 second', 1, NULL, NULL
FROM sub_order, generate_series(0, 1) AS k
""",
]

REFERENCE = [
    "SELECT count(*) FROM sub_order WHERE created_at >= :lo AND created_at < :hi",
    "SELECT count(*) FROM subscription WHERE unsubscribed_at >= :lo AND unsubscribed_at < :hi",
    "SELECT count(*) FROM mo_message WHERE received_at >= :lo AND received_at < :hi AND handled_as = 'query'",
    "SELECT count(*) FROM sms_outbox WHERE sent_at >= :lo AND sent_at < :hi",
]


def timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--subscribers", type=int, default=0, help="default: orders / 3")
    ap.add_argument("--keep", action="store_true", help="keep the bench_consoles database")
    args = ap.parse_args()
    n, subs = args.orders, args.subscribers or max(args.orders // 3, 1)

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS bench_consoles"))
        c.execute(text("CREATE DATABASE bench_consoles"))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/bench_consoles"
    try:
        upgrade(url)
        platform = Platform(Settings(database_url=url), clock=FixedClock(NOW))
        from mingbai.catalog.service import import_catalog

        with platform.uow() as ctx:
            import_catalog(ctx, {"sps": DEMO_CATALOG["sps"], "services": DEMO_CATALOG["services"]})
        t = time.perf_counter()
        with platform.db.engine.begin() as conn:
            for sql in LOAD:
                conn.execute(text(sql), {"n": n, "subs": subs, "start": START})
            conn.execute(text("ANALYZE"))
        print(
            f"loaded {n:,} orders for {subs:,} subscribers (+ subscriptions, queries, 2·N SMS) in "
            f"{time.perf_counter() - t:.1f} s"
        )

        end = NOW.astimezone(SHANGHAI).date()
        for days in (14, 30):
            start = end - timedelta(days=days - 1)

            def board(start: date = start) -> None:
                with platform.uow() as ctx:
                    dashboard(ctx, start, end)

            lo, hi = local_midnight(start), local_midnight(end + timedelta(days=1))

            def reference(lo: datetime = lo, hi: datetime = hi) -> None:
                with platform.db.engine.connect() as conn:
                    for sql in REFERENCE:
                        conn.execute(text(sql), {"lo": lo, "hi": hi}).scalar()

            b, r = timed(board), timed(reference)
            print(
                f"dashboard {days:>2} days: {b * 1000:8.1f} ms   plain COUNT(*) passes: {r * 1000:8.1f} ms   "
                f"ratio {b / r:.2f}"
            )

        rng = random.Random(6)
        lat = []
        for _ in range(200):
            m = "139" + f"{rng.randrange(subs):08d}"
            t = time.perf_counter()
            with platform.uow() as ctx:
                subscription_cards(ctx, m)
            lat.append(time.perf_counter() - t)
        lat.sort()
        print(
            f"agent console read (subscriptions + history) for one subscriber: p50 "
            f"{statistics.median(lat) * 1000:.2f} ms, p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.2f} ms"
        )

        def sp_page() -> None:
            with platform.uow() as ctx:
                sp_services(ctx, "SINA", end - timedelta(days=29))

        print(f"SP portal figures for SINA (30 days): {timed(sp_page) * 1000:.1f} ms")
        platform.db.engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as c:
                c.execute(text("DROP DATABASE IF EXISTS bench_consoles WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
