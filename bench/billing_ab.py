"""A/B the monthly billing run on PostgreSQL: one filled database, variants alternated by round.

Fills ``--db`` once (as ``bench/billing.py`` does), then per round bills the month from nothing
with each variant in turn (forward in odd rounds, backward in even ones, so drift from other load
on the machine falls on all of them), with the TRUNCATE and CHECKPOINT that ``billing.py`` does
between its worker counts. Reports charges/s per round and the median, the CPU seconds of the
database backends plus this process (steadier than wall time on a shared machine), and with
``--timings`` the time per statement kind. ``--copy`` adds the COPY reference after every round.

Variants (each undone after its run):

- ``base``: the code and schema as they are;
- ``keyed``: as before migration 0503: reminders carry ``charge:<id>`` as dedupe key, and
  ``uq_sms_outbox_dedupe`` and ``ix_sms_outbox_status_created`` hold every row;
- ``full6``: ``gateway_ref`` and ``(tag, status)`` indexed in full, as before migration 0502;
- ``nodedupe`` / ``nodue`` / ``nosc``: without ``uq_sms_outbox_dedupe`` / ``ix_sms_outbox_due`` /
  ``ix_sms_outbox_status_created`` (what each index costs; not a candidate schema);
- ``order``: the reminder INSERT … SELECT ordered by the outbox key (msisdn, id);
- ``unordered``: charges numbered in the order they come (``row_number() OVER ()``), sparing the
  window its ORDER BY;
- ``notext``: reminders written without their text (what the text's width costs);
- ``perrow``: each reminder's words put together on its own row (before the ``words`` CTE);
- ``collc``: the MSISDN columns (and the charge's period and usage_ref) in the C collation;
- ``cte``: charge and reminders in one statement (a data-modifying CTE: reminders from the
  charge insert's RETURNING rows, progress from its sums);
- ``c20k`` / ``c100k`` / ``c200k``: other chunk sizes.

    .venv/bin/python bench/billing_ab.py --variants base,full6,nosc,order --rounds 5 --copy --timings
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, event, text

import billing as bench  # bench/billing.py
from mingbai.charging import billing
from mingbai.db import Ctx, UtcDateTime
from mingbai.ids import reserve_ids
from mingbai.migrate import upgrade
from mingbai.platform import Platform

ORIGINAL_REMIND = billing._REMIND
ORIGINAL_CHUNK = billing._charge_chunk
ORIGINAL_FAST = billing._CHARGE_FAST
#: the ``keyed`` variant: reminders with a dedupe key, both indexes in full (before migration 0503)
KEYED_REMIND = ORIGINAL_REMIND.replace("segmentation, status", "segmentation, dedupe_key, status").replace(
    "'concat', 'queued'", "'concat', 'charge:' || c.id, 'queued'"
)
assert KEYED_REMIND.count("dedupe_key") == 1 and KEYED_REMIND.count("'charge:'") == 1

#: the ``cte`` variant: the chunk's charge insert feeds its reminders directly
_CTE = """
WITH ins AS (
{charge}
RETURNING msisdn, id, service_code, amount_fen
), rem AS (
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, status, created_at, due_at)
SELECT c.msisdn, c.id, :sender,
       :t_a || p.name || svc.name || :t_b || {yuan} || :t_c || c.service_code || :t_d,
       'charge_reminder', 'concat', 'queued', :now, :due
FROM ins c
JOIN service svc ON svc.code = c.service_code
JOIN sp p ON p.code = svc.sp_code
RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS charged, (SELECT coalesce(sum(amount_fen), 0) FROM ins) AS amount_fen,
       (SELECT count(*) FROM rem) AS reminders
"""

_CTE_PROGRESS = """
UPDATE billing_run SET
  charged = charged + :charged, reminders = reminders + :reminders, amount_fen = amount_fen + :amount_fen,
  chunks_done = chunks_done + 1,
  last_msisdn = CASE WHEN last_msisdn IS NULL OR last_msisdn < :last THEN :last ELSE last_msisdn END
WHERE id = :batch_id
"""


def _charge_chunk_cte(
    ctx: Ctx, params: dict[str, Any], lo: str, hi: str, size: int, *, safe: bool = False
) -> billing.ChunkResult:
    session = ctx.session
    for setting in ("enable_seqscan = off", "enable_nestloop = off", "plan_cache_mode = force_custom_plan"):
        session.execute(text(f"SET LOCAL {setting}"))
    session.execute(text("SET LOCAL synchronous_commit = off"))
    p = dict(params, lo=lo, hi=hi, base_id=reserve_ids(size + 1))
    charge = (billing.CHARGE_SAFE if safe else billing._CHARGE_FAST).format(where=billing._RANGE_S).strip()
    sql = _CTE.format(charge=charge, yuan=billing._YUAN)
    row = session.execute(billing.timed_sql(sql).bindparams(bindparam("due", type_=UtcDateTime)), p).one()
    charged, reminders = int(row.charged), int(row.reminders)
    if charged:
        values = {"charged": charged, "reminders": reminders, "amount_fen": int(row.amount_fen), "last": hi}
        session.execute(text(_CTE_PROGRESS), {**p, **values})
    else:
        session.execute(text(billing._PROGRESS_EMPTY), {"last": hi, **p})
    return billing.ChunkResult(lo, hi, size, charged, reminders)


#: the ``perrow`` variant: every reminder's words put together on their own row, as before
PERROW_REMIND = f"""
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, status, created_at, due_at)
SELECT c.msisdn, c.id, :sender,
       :t_a || p.name || svc.name || :t_b || {billing._YUAN} || :t_c || c.service_code || :t_d,
       'charge_reminder', 'concat', 'queued', :now, :due
FROM charge c
JOIN service svc ON svc.code = c.service_code
JOIN sp p ON p.code = svc.sp_code
WHERE {billing._RANGE_C} AND c.batch_id = :batch_id
"""

#: the ``notext`` variant: reminders written without their text (to be put together when sent):
#: what the width of the text costs the run (not a candidate as it stands)
NOTEXT_REMIND = f"""
INSERT INTO sms_outbox (msisdn, id, sender, kind, segmentation, status, created_at, due_at)
SELECT c.msisdn, c.id, :sender, 'charge_reminder', 'concat', 'queued', :now, :due
FROM charge c
WHERE {billing._RANGE_C} AND c.batch_id = :batch_id
"""

UNORDERED = "row_number() OVER ()"
ORDERED = "row_number() OVER (ORDER BY s.msisdn, s.id)"


def ddl(platform: Platform, *statements: str) -> Callable[[], None]:
    def run() -> None:
        with platform.db.engine.begin() as conn:
            for s in statements:
                conn.execute(text(s))

    return run


def noop() -> None:
    pass


Variant = tuple[Callable[[], None], Callable[[], None], int]


def variants(platform: Platform, chunk: int) -> dict[str, Variant]:
    def drop(name: str, definition: str) -> Variant:
        return ddl(platform, f"DROP INDEX {name}"), ddl(platform, f"CREATE {definition}"), chunk

    def collate(name: str) -> list[str]:
        columns = {
            "subscription": ("msisdn", 15),
            "charge": ("msisdn", 15),
            "sms_outbox": ("msisdn", 15),
        }
        return [
            f'ALTER TABLE {t} ALTER COLUMN {c} TYPE VARCHAR({n}) COLLATE "{name}"' for t, (c, n) in columns.items()
        ] + [
            f'ALTER TABLE charge ALTER COLUMN period TYPE VARCHAR(7) COLLATE "{name}"',
            f'ALTER TABLE charge ALTER COLUMN usage_ref TYPE VARCHAR(64) COLLATE "{name}"',
        ]

    def patch(name: str, value: Any) -> Variant:
        original = getattr(billing, name)
        return (lambda: setattr(billing, name, value)), (lambda: setattr(billing, name, original)), chunk

    partial = (
        "CREATE INDEX ix_sms_outbox_gateway_ref ON sms_outbox (gateway_ref) WHERE gateway_ref IS NOT NULL",
        "CREATE INDEX ix_sms_outbox_tag ON sms_outbox (tag, status) WHERE tag IS NOT NULL",
    )
    full = (
        "CREATE INDEX ix_sms_outbox_gateway_ref ON sms_outbox (gateway_ref)",
        "CREATE INDEX ix_sms_outbox_tag ON sms_outbox (tag, status)",
    )
    drop_both = ("DROP INDEX ix_sms_outbox_gateway_ref", "DROP INDEX ix_sms_outbox_tag")
    keyed_partial = (
        "CREATE UNIQUE INDEX uq_sms_outbox_dedupe ON sms_outbox (msisdn, dedupe_key) WHERE dedupe_key IS NOT NULL",
        "CREATE INDEX ix_sms_outbox_status_created ON sms_outbox (status, created_at) WHERE status <> 'queued'",
    )
    keyed_full = (
        "CREATE UNIQUE INDEX uq_sms_outbox_dedupe ON sms_outbox (msisdn, dedupe_key)",
        "CREATE INDEX ix_sms_outbox_status_created ON sms_outbox (status, created_at)",
    )
    drop_keys = ("DROP INDEX uq_sms_outbox_dedupe", "DROP INDEX ix_sms_outbox_status_created")
    return {
        "base": (noop, noop, chunk),
        "full6": (ddl(platform, *drop_both, *full), ddl(platform, *drop_both, *partial), chunk),
        "keyed": (
            lambda: (ddl(platform, *drop_keys, *keyed_full)(), setattr(billing, "_REMIND", KEYED_REMIND)),
            lambda: (ddl(platform, *drop_keys, *keyed_partial)(), setattr(billing, "_REMIND", ORIGINAL_REMIND)),
            chunk,
        ),
        "collc": (ddl(platform, *collate("C")), ddl(platform, *collate("default")), chunk),
        "nodedupe": drop("uq_sms_outbox_dedupe", keyed_partial[0].removeprefix("CREATE ")),
        "nodue": drop("ix_sms_outbox_due", "INDEX ix_sms_outbox_due ON sms_outbox (due_at) WHERE status = 'queued'"),
        "nosc": drop("ix_sms_outbox_status_created", keyed_partial[1].removeprefix("CREATE ")),
        "order": patch("_REMIND", ORIGINAL_REMIND.rstrip() + "\nORDER BY c.msisdn, c.id\n"),
        "cte": patch("_charge_chunk", _charge_chunk_cte),
        "perrow": patch("_REMIND", PERROW_REMIND),
        "notext": (
            lambda: (
                ddl(platform, "ALTER TABLE sms_outbox ALTER COLUMN text DROP NOT NULL")(),
                setattr(billing, "_REMIND", NOTEXT_REMIND),
            ),
            lambda: (
                ddl(platform, "TRUNCATE sms_outbox", "ALTER TABLE sms_outbox ALTER COLUMN text SET NOT NULL")(),
                setattr(billing, "_REMIND", ORIGINAL_REMIND),
            ),
            chunk,
        ),
        "unordered": patch("_CHARGE_FAST", ORIGINAL_FAST.replace(ORDERED, UNORDERED)),
        "c20k": (noop, noop, 20_000),
        "c100k": (noop, noop, 100_000),
        "c200k": (noop, noop, 200_000),
    }


def reset(platform: Platform) -> None:
    with platform.db.engine.begin() as conn:
        conn.execute(text("TRUNCATE charge, sms_outbox, billing_run, billing_watermark"))
    with platform.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CHECKPOINT"))


def backend_cpu(platform: Platform) -> dict[int, float]:
    """CPU seconds so far of this database's backends (the server runs on this host)."""
    with platform.db.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        out = {}
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def statement_timer(platform: Platform) -> dict[str, float]:
    acc: dict[str, float] = {}
    kinds = (
        ("WITH ins", "charge + reminders (cte)"),
        ("INSERT INTO charge", "charge insert"),
        ("INSERT INTO sms_outbox", "reminder insert"),
        ("UPDATE billing_run SET charged", "progress"),
        ("SELECT msisdn FROM subscription", "bounds"),
        ("SELECT CASE", "summary"),
    )

    @event.listens_for(platform.db.engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(platform.db.engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        s = " ".join(statement.split())
        key = next((k for prefix, k in kinds if s.startswith(prefix)), "other")
        acc[key] = acc.get(key, 0.0) + time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscriptions", type=int, default=1_000_000)
    ap.add_argument("--subscribers", type=int, default=400_000)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--variants", default="base,full6", help="comma-separated; the first is the baseline")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--copy", action="store_true", help="the COPY reference after every round")
    ap.add_argument("--timings", action="store_true", help="time per statement kind")
    ap.add_argument("--admin", default=bench.ADMIN)
    ap.add_argument("--db", default="bench_billing_ab")
    args = ap.parse_args()
    url = bench.fresh_pg(args.admin, args.db)
    upgrade(url)
    platform = bench.platform_for(url)
    table = variants(platform, args.chunk_size)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(table)}")
    acc = statement_timer(platform) if args.timings else None
    rates: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    splits: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    copies: list[float] = []
    reference = bench.CopyReference(url)
    try:
        bench.say(f"filling {args.subscriptions:,} subscriptions over {args.subscribers:,} subscribers …")
        bench.say(f"filled in {bench.fill(platform, args.subscriptions, args.subscribers):.1f}s")
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                on, off, chunk = table[name]
                reset(platform)
                on()
                try:
                    if acc is not None:
                        acc.clear()
                    load = os.getloadavg()[0]
                    cpu0, own0 = backend_cpu(platform), os.times()
                    seconds, charged, _ = bench.timed_run(platform, chunk, args.workers, f"round {r + 1}, {name}")
                    cpu1, own1 = backend_cpu(platform), os.times()
                    cpu = sum(v - cpu0.get(pid, 0.0) for pid, v in cpu1.items())
                    cpu += (own1.user + own1.system) - (own0.user + own0.system)
                    rates[name].append(charged / seconds)
                    cpus[name].append(cpu)
                    line = f"   {charged / seconds:,.0f} charges/s, {cpu:.1f} CPU s, load {load:.1f} → {os.getloadavg()[0]:.1f}"
                    bench.say(line)
                    if acc is not None:
                        splits[name].append(dict(acc))
                        bench.say("   " + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(acc.items())))
                finally:
                    off()
            if args.copy:
                copy_s = reference.measure()
                copies.append(reference.rows / copy_s)
                bench.say(f"   COPY: {reference.rows / copy_s:,.0f} rows/s")
    finally:
        platform.db.engine.dispose()
        bench.drop_pg(args.admin, args.db)
    base, cpu_base = statistics.median(rates[names[0]]), statistics.median(cpus[names[0]])
    copy = statistics.median(copies) if copies else None
    print()
    print(f"| variant | charges/s by round | median | vs {names[0]} | CPU s, median | vs {names[0]} |")
    print("|---|---|---|---|---|---|")
    for n in names:
        rate, cpu = statistics.median(rates[n]), statistics.median(cpus[n])
        by_round = ", ".join(f"{x:,.0f}" for x in rates[n])
        ratio = f" = {rate / copy:.2f}× COPY" if copy else ""
        print(
            f"| {n} | {by_round} | {rate:,.0f}{ratio} | {rate / base - 1:+.1%} | {cpu:.1f} | {cpu / cpu_base - 1:+.1%} |"
        )
    if copies:
        print(f"\nCOPY rows/s by round: {', '.join(f'{c:,.0f}' for c in copies)}")
    if acc is not None:
        print()
        for n in names:
            keys = sorted({k for d in splits[n] for k in d})
            medians = {k: round(statistics.median(d.get(k, 0.0) for d in splits[n]), 2) for k in keys}
            print(f"{n}: seconds per statement kind (median) {medians}")


if __name__ == "__main__":
    main()
