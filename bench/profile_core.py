"""The subscription core's work per "0000" reply and per order→code→subscription flow, in one
process: CPU time, SQL statements and (``--profile``) the top cumulative functions.

On a shared machine wall-clock timings of ``bench/core.py`` swing by 2x between runs; CPU time and
statement counts do not, so an A/B between two checkouts compares these. The script uses only what
``bench/core.py`` uses, so it runs unchanged in an older worktree: copy it there or run it as
``cd <checkout> && .venv/bin/python /path/to/bench/profile_core.py`` (it imports the ``core``
module of the checkout it is run from)::

    .venv/bin/python bench/profile_core.py --queries 1000 --flows 2000 [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path.cwd() / "bench"))

from sqlalchemy import event

import core  # type: ignore[import-not-found]  # bench/core.py of the checkout run from
from mingbai.clock import FixedClock
from mingbai.platform import Platform
from mingbai.subscriptions.service import OrderRequest, place_orders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscriptions", type=int, default=200_000)
    ap.add_argument("--subscribers", type=int, default=80_000)
    ap.add_argument("--month-subscribers", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--flows", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--profile", action="store_true", help="print the top cumulative functions")
    ap.add_argument("--dump", default="", help="write <dump>query.prof and <dump>flow.prof (pstats)")
    ap.add_argument("--show-sql", action="store_true", help="print every statement to stderr")
    args = ap.parse_args()
    args.backend = "sqlite"
    url = core.setup_database(args)
    core.load(url, args)
    platform = Platform(core.settings(url), clock=FixedClock(core.FLOW_AT))
    statements = [0]

    @event.listens_for(platform.db.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements[0] += 1
        if args.show_sql:
            print("SQL:", " ".join(statement.split()), file=sys.stderr)

    rnd = random.Random(7)
    for _ in range(50):  # warm the pool and the statement caches
        platform.receive_sms(core.msisdn(rnd.randrange(args.subscribers)), "10086", "0000")

    def queries() -> None:
        for _ in range(args.queries):
            r = platform.receive_sms(core.msisdn(rnd.randrange(args.subscribers)), "10086", "0000")
            assert r.handled_as == "query" and r.replies

    def flows() -> None:
        first = args.month_subscribers + 1  # as bench/core.py: subscribers without an order this month
        for start in range(first, first + args.flows, args.batch):
            numbers = [core.msisdn(i) for i in range(start, min(start + args.batch, first + args.flows))]
            with platform.uow() as ctx:
                place_orders(ctx, [OrderRequest(m, "BENCH-FLOW", "sp", "bench") for m in numbers])
            codes = {o.msisdn: re.search(r"验证码(\d{6})", o.text).group(1) for o in ctx.enqueued}  # type: ignore[union-attr]
            for r in platform.receive_many([(m, "10086", codes[m]) for m in numbers]):
                assert r.handled_as == "code_confirmed", r  # type: ignore[union-attr]

    work: list[tuple[str, Callable[[], None], int]] = [("query", queries, args.queries), ("flow", flows, args.flows)]
    for name, fn, n in work:
        statements[0] = 0
        prof = cProfile.Profile() if args.profile or args.dump else None
        wall, cpu = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        fn()
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{name}: {n} in {wall:.2f}s = {wall / n * 1000:.3f} ms wall, {cpu / n * 1000:.3f} ms CPU each; "
            f"{statements[0]} statements = {statements[0] / n:.2f} each",
            flush=True,
        )
        if prof and args.dump:
            prof.dump_stats(f"{args.dump}{name}.prof")
        if prof and args.profile:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
    platform.db.engine.dispose()


if __name__ == "__main__":
    main()
