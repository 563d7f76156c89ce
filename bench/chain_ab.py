"""What the consent hash chain costs the order flow (issue 15 against issue 2's figure).

    .venv/bin/python bench/chain_ab.py --subscribers 100000 --subscriptions 250000 --rounds 3 --flows 2000
    .venv/bin/python bench/chain_ab.py --backend sqlite --rounds 3 --flows 2000

Loads issue 2's data (bench/core.py's loader) into a database of its own (PostgreSQL
``bench_chain_ab``, or a SQLite file in a temporary folder), then alternates rounds of complete order → code → subscription flows (``place_orders`` +
``Platform.receive_many``, batches of 200, two worker processes) with the chain linked as in
production and with ``link`` replaced by a no-op, so both variants share the machine's load.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
import core
from mingbai.migrate import upgrade


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--subscriptions", type=int, default=250_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flows", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", choices=["pg", "sqlite"], default="pg")
    args = ap.parse_args()
    args.month_subscribers = 0
    admin = create_engine(core.PG_ADMIN, isolation_level="AUTOCOMMIT")
    if args.backend == "pg":
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_chain_ab"))
            c.execute(text("CREATE DATABASE bench_chain_ab"))
        url = core.PG_ADMIN.rsplit("/", 1)[0] + "/bench_chain_ab"
        upgrade(url)
    else:
        url = core.setup_database(args)
    core.load(url, args)
    import mingbai.messaging.service as messaging
    import mingbai.subscriptions.shared as shared

    linked = (shared.link, messaging.link)
    rates: dict[str, list[float]] = {"chain": [], "no chain": []}
    offset = 0
    for _ in range(args.rounds):
        for variant in ("chain", "no chain"):
            if variant == "chain":
                shared.link, messaging.link = linked
            else:
                shared.link = messaging.link = lambda ctx, table, rows: None  # type: ignore[assignment]
            r = core.bench_flows(url, args, offset, 200, args.flows)
            offset += args.flows
            rates[variant].append(r["per_second"])
            print(f"  {variant}: {r['per_second']:,.0f} flows/s", flush=True)
    for k, v in rates.items():
        print(f"{k}: median {statistics.median(v):,.0f} flows/s over {len(v)} rounds {[round(x) for x in v]}")
    print(f"chain / no chain: {statistics.median(rates['chain']) / statistics.median(rates['no chain']):.2f}")
    if args.backend == "pg":
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_chain_ab"))
    else:
        shutil.rmtree(Path(url.split("///", 1)[1]).parent)
    admin.dispose()


if __name__ == "__main__":
    main()
