"""Benchmark the monthly billing run against the physical reference, and kill it on purpose.

PostgreSQL (default): creates its own database (``bench_charging``), fills it set-based with
N subscriptions over M subscribers (about 60% owe the month), runs ``run_billing`` for the
month (charges + one deduction-reminder outbox row each), runs it again (must insert nothing).
After every run it COPYs the same charge rows in binary into an empty table with the charge
table's indexes: the ratio of the run's rate to that COPY's, taken right next to it, is the figure
(the median of all the COPYs is shown too: on a shared machine one COPY can be far off). ``--kill`` then bills the month again from nothing as a
real ``mingbai billing run`` process and kills it with SIGKILL three times (early, middle, and
while it writes reminders), restarts it to completion, and compares every charge and reminder
with the clean run. The database is dropped at the end unless ``--keep``.

``--sqlite N`` runs the same on an SQLite file with N subscriptions (no COPY there: a report).

    .venv/bin/python bench/billing.py --subscriptions 10000000 --subscribers 4000000 --kill
    .venv/bin/python bench/billing.py --sqlite 1000000
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from mingbai.charging.billing import run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.simulate import fingerprint, populate
from mingbai.clock import FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.errors import Conflict
from mingbai.migrate import upgrade
from mingbai.platform import Platform

PERIOD = parse_billing_period("2026-04")
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fresh_pg(admin_url: str, name: str) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def platform_for(url: str) -> Platform:
    clock = FixedClock(PERIOD.start + timedelta(minutes=5))
    return Platform(Settings(database_url=url, code_secret="bench"), clock=clock, database=Database(make_engine(url)))


def fill(platform: Platform, subscriptions: int, subscribers: int) -> float:
    t0 = time.perf_counter()
    with platform.db.engine.begin() as conn:
        populate(conn, subscriptions=subscriptions, subscribers=subscribers, period=PERIOD)
    if platform.db.engine.dialect.name == "postgresql":
        with platform.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
    settle()
    return time.perf_counter() - t0


def settle() -> None:
    """Let the kernel write out what the last step left dirty, so that the next timed step does
    not pay for it (the first run after a 10 M fill did: 48 s against 41-45 s for the same run later)."""
    os.sync()


def timed_run(platform: Platform, chunk: int, workers: int, label: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    summary = run_billing(platform, PERIOD, actor=f"bench:{label}", chunk_size=chunk, workers=workers)
    seconds = time.perf_counter() - t0
    say(
        f"{label}: {summary.seen:,} seen, {summary.charged:,} charged, {summary.reminders:,} reminders, "
        f"skipped {summary.skipped} in {seconds:.1f}s"
    )
    return seconds, summary.charged, summary.reminders


class CopyReference:
    """Binary COPY of the charge rows into an empty table with the same indexes (the reference).

    The rows are dumped once (``dump``), then COPYed in again after every billing run
    (``measure``), so each run has a reference taken right next to it on this shared machine."""

    def __init__(self, url: str) -> None:
        self.raw = url.replace("postgresql+psycopg://", "postgresql://")
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the bench; gone with the process)
        self.rows = 0

    def dump(self) -> None:
        import psycopg

        with psycopg.connect(self.raw, autocommit=True) as conn:
            with conn.cursor().copy("COPY (SELECT * FROM charge ORDER BY msisdn, id) TO STDOUT (FORMAT binary)") as cp:
                for block in cp:
                    self.file.write(block)
            self.rows = int(conn.execute("SELECT count(*) FROM charge").fetchone()[0])  # type: ignore[index]

    def measure(self) -> float:
        import psycopg

        if not self.rows:
            self.dump()
        with psycopg.connect(self.raw, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS charge_copy")
            conn.execute("CREATE TABLE charge_copy (LIKE charge INCLUDING ALL)")
            conn.execute("CHECKPOINT")
            settle()
            self.file.seek(0)
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor().copy("COPY charge_copy FROM STDIN (FORMAT binary)") as cp:
                while block := self.file.read(1 << 20):
                    cp.write(block)
            seconds = time.perf_counter() - t0
            conn.execute("DROP TABLE charge_copy")
        return seconds


# -- the kill test ---------------------------------------------------------------------------------


def _progress(platform: Platform) -> tuple[int, str | None]:
    with platform.db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT chunks_done, id FROM billing_run WHERE status = 'running' ORDER BY started_at DESC LIMIT 1")
        ).first()
    return (int(row[0]), str(row[1])) if row else (0, None)


def _writing_reminders(platform: Platform) -> bool:
    with platform.db.engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                    "AND query LIKE '%INSERT INTO sms_outbox%charge_reminder%' AND pid <> pg_backend_pid()"
                )
            ).scalar()
        )


def _killed_run(platform: Platform, url: str, chunk: int, when: str, chunks_total: int) -> str:
    env = dict(os.environ, COLUMNS="120")
    cmd = [
        sys.executable,
        "-m",
        "mingbai.cli.main",
        "--db",
        url,
        "--at",
        platform.clock.now().isoformat(),
        "billing",
        "run",
        "--period",
        PERIOD.label,
        "--chunk-size",
        str(chunk),
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    targets = {"early": max(1, chunks_total // 10), "middle": chunks_total // 2, "reminders": chunks_total * 3 // 4}
    target = targets[when]
    try:
        while True:
            if proc.poll() is not None:
                return f"{when}: the run finished before it could be killed"
            done, _ = _progress(platform)
            if done >= target and (when != "reminders" or _writing_reminders(platform)):
                os.kill(proc.pid, signal.SIGKILL)
                return f"{when}: killed with {done}/{chunks_total} chunks committed"
            time.sleep(0.005 if when == "reminders" else 0.05)
    finally:
        proc.wait()


def kill_test(platform: Platform, url: str, chunk: int) -> dict[str, int | str]:
    engine = platform.db.engine
    chunks_total = 0
    with engine.begin() as conn:
        chunks_total = int(conn.execute(text("SELECT max(chunks_done) FROM billing_run")).scalar() or 1)
        say("kill test: keeping the clean run's charges and reminders as the reference")
        conn.execute(text("DROP TABLE IF EXISTS clean_fp"))
        conn.execute(
            text(
                "CREATE TABLE clean_fp AS SELECT c.msisdn, c.subscription_id, c.period, c.amount_fen, o.text, o.due_at "
                "FROM charge c LEFT JOIN sms_outbox o ON o.msisdn = c.msisdn AND o.id = c.id AND o.kind = 'charge_reminder'"
            )
        )
        conn.execute(text("TRUNCATE charge, sms_outbox, billing_run, billing_watermark"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CHECKPOINT"))
    notes = []
    for when in ("early", "middle", "reminders"):
        notes.append(_killed_run(platform, url, chunk, when, chunks_total))
        say(notes[-1])
        with engine.connect() as conn:
            fp = fingerprint(conn, PERIOD.label, keep_rows=False)
        say(f"  after the kill: {fp.charges:,} charges, {fp.reminders:,} reminders, {fp.unmatched} unmatched")
        if fp.unmatched:
            raise SystemExit("a charge without its reminder survived a kill")
    deadline = time.monotonic() + 60
    while True:
        try:
            run_billing(platform, PERIOD, actor="bench:final", chunk_size=chunk)
            break
        except Conflict:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with engine.connect() as conn:
        now = (
            "SELECT c.msisdn, c.subscription_id, c.period, c.amount_fen, o.text, o.due_at FROM charge c "
            "LEFT JOIN sms_outbox o ON o.msisdn = c.msisdn AND o.id = c.id AND o.kind = 'charge_reminder'"
        )
        missing = conn.execute(text(f"SELECT count(*) FROM (SELECT * FROM clean_fp EXCEPT ALL {now}) d")).scalar()
        extra = conn.execute(text(f"SELECT count(*) FROM ({now} EXCEPT ALL SELECT * FROM clean_fp) d")).scalar()
        twice = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT msisdn, subscription_id FROM charge WHERE period = :p "
                "GROUP BY 1, 2 HAVING count(*) > 1) d"
            ),
            {"p": PERIOD.label},
        ).scalar()
        fp = fingerprint(conn, PERIOD.label, keep_rows=False)
        clean_n = conn.execute(text("SELECT count(*) FROM clean_fp")).scalar()
        runs = conn.execute(text("SELECT status, count(*) FROM billing_run GROUP BY 1 ORDER BY 1")).all()
    result: dict[str, int | str] = {
        "clean_charges": int(clean_n or 0),
        "final_charges": fp.charges,
        "final_reminders": fp.reminders,
        "missing_vs_clean": int(missing or 0),
        "extra_vs_clean": int(extra or 0),
        "charged_twice": int(twice or 0),
        "unmatched": fp.unmatched,
        "runs": ", ".join(f"{s}: {n}" for s, n in runs),
        "kills": "; ".join(notes),
    }
    say(f"kill test: {result}")
    if missing or extra or twice or fp.unmatched:
        raise SystemExit("kill test FAILED")
    return result


# -- main -------------------------------------------------------------------------------------------


def bench_pg(args: argparse.Namespace) -> None:
    url = fresh_pg(args.admin, args.db)
    say(f"database {args.db}; schema …")
    upgrade(url)
    platform = platform_for(url)
    try:
        say(f"filling {args.subscriptions:,} subscriptions over {args.subscribers:,} subscribers …")
        fill_s = fill(platform, args.subscriptions, args.subscribers)
        say(f"filled in {fill_s:.1f}s")
        runs = []
        reference = CopyReference(url)
        for i, workers in enumerate(int(w) for w in args.workers.split(",")):
            if i:  # bill the month again from nothing, with another number of workers
                with platform.db.engine.begin() as conn:
                    conn.execute(text("TRUNCATE charge, sms_outbox, billing_run, billing_watermark"))
            with platform.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("CHECKPOINT"))
            settle()
            run_s, charged, reminders = timed_run(platform, args.chunk_size, workers, f"first run, {workers} worker(s)")
            copy_s = reference.measure()
            say(f"  binary COPY of the same rows next to it: {copy_s:.1f} s = {reference.rows / copy_s:,.0f} rows/s")
            runs.append((workers, run_s, charged, reminders, copy_s))
        with platform.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CHECKPOINT"))
        rerun_s, recharged, _ = timed_run(platform, args.chunk_size, runs[-1][0], "rerun")
        rows = reference.rows
        median_copy = statistics.median(r[4] for r in runs)
        load = os.getloadavg()
        print()
        print("| figure | value |\n|---|---|")
        print(f"| subscriptions / subscribers | {args.subscriptions:,} / {args.subscribers:,} |")
        print(f"| chunk size | {args.chunk_size:,} |")
        print(f"| charges + reminder outbox rows written | {charged:,} + {reminders:,} |")
        for workers, run_s, charged, _, copy_s in runs:
            run_rate = charged / run_s
            print(
                f"| billing run, {workers} worker(s) (charges + reminders) | {run_s:.1f} s = {run_rate:,.0f} charges/s"
                f" = **{run_rate * copy_s / rows:.2f}× the COPY next to it** ({copy_s:.1f} s),"
                f" {run_rate * median_copy / rows:.2f}× the median COPY |"
            )
        print(f"| load average (1/5/15 min) at the end | {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} |")
        print(
            f"| binary COPY of the same {rows:,} charge rows, same indexes, after each run | "
            + ", ".join(f"{c:.1f} s" for _, _, _, _, c in runs)
            + f"; median {median_copy:.1f} s = {rows / median_copy:,.0f} rows/s |"
        )
        print(
            f"| rerun of the period | {rerun_s:.1f} s ({rerun_s / runs[-1][1]:.0%} of the first run), "
            f"{recharged} inserted |"
        )
        print()
        if args.kill:
            result = kill_test(platform, url, args.kill_chunk or args.chunk_size)
            print("| kill test | value |\n|---|---|")
            for k, v in result.items():
                print(f"| {k} | {v} |")
    finally:
        platform.db.engine.dispose()
        if args.keep:
            say(f"kept database {args.db}")
        else:
            drop_pg(args.admin, args.db)
            say(f"dropped database {args.db}")


def bench_sqlite(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        platform = platform_for(url)
        n = args.sqlite
        say(f"SQLite: filling {n:,} subscriptions over {n * 2 // 5:,} subscribers …")
        fill_s = fill(platform, n, n * 2 // 5)
        say(f"filled in {fill_s:.1f}s")
        run_s, charged, reminders = timed_run(platform, args.chunk_size, 1, "first run")
        rerun_s, recharged, _ = timed_run(platform, args.chunk_size, 1, "rerun")
        size = path.stat().st_size / 1e6
        platform.db.engine.dispose()
    print()
    print("| SQLite figure | value |\n|---|---|")
    print(f"| subscriptions | {n:,} |")
    print(
        f"| billing run (charges + reminders) | {charged:,} + {reminders:,} in {run_s:.1f} s = "
        f"{charged / run_s:,.0f} charges/s |"
    )
    print(f"| rerun | {rerun_s:.1f} s ({rerun_s / run_s:.0%}), {recharged} inserted |")
    print(f"| database file after both | {size:,.0f} MB |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscriptions", type=int, default=10_000_000)
    ap.add_argument("--subscribers", type=int, default=4_000_000)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--workers", default="1", help="chunks charged side by side (PostgreSQL); a list bills again")
    ap.add_argument("--kill", action="store_true", help="also run the kill -9 test (PostgreSQL)")
    ap.add_argument("--kill-chunk", type=int, default=0, help="chunk size for the killed runs (default: --chunk-size)")
    ap.add_argument("--admin", default=ADMIN, help="URL of a database to create the bench database from")
    ap.add_argument("--db", default="bench_charging", help="name of the bench database (dropped and created)")
    ap.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    ap.add_argument("--sqlite", type=int, default=0, metavar="N", help="bench SQLite with N subscriptions instead")
    args = ap.parse_args()
    if args.sqlite:
        bench_sqlite(args)
    else:
        bench_pg(args)


if __name__ == "__main__":
    main()
