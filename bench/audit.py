"""Benchmark of the audit log (issue 16). Not a test: prints figures for docs/PERFORMANCE.md.

    PYTHONPATH=src .venv/bin/python bench/audit.py --backend pg --entries 200000 --verify 1000000
    PYTHONPATH=src .venv/bin/python bench/audit.py --backend sqlite --entries 100000 --verify 1000000

On a database of its own (PostgreSQL: ``bench_audit``, dropped at the end; SQLite: a temp file):
  1. appends through ``audit.record_many`` in batches (group commit: one head update and one
     multi-row INSERT a batch), each batch its own durable transaction;
  2. single appends (``audit.record``, one transaction each) from several threads at once: every
     append takes the head row's lock, so this is the single-head contention, reported as it is;
  3. PostgreSQL: COPY of the same rows into a plain table of the same shape, the physical
     reference of the same run;
  4. ``audit.verify`` over ``--verify`` entries (loaded by batches first), Python streaming.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from mingbai.audit import service as audit
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.config import Settings
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.sealing import new_key_line

PG_ADMIN = os.environ.get("MINGBAI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AT = datetime(2026, 4, 15, 10, 0, tzinfo=SHANGHAI)
KEY = new_key_line("bench")


def setup(backend: str) -> str:
    if backend == "pg":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS bench_audit"))
            c.execute(text("CREATE DATABASE bench_audit"))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/bench_audit"
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench_audit_')) / 'bench.db'}"
    upgrade(url)
    return url


def platform(url: str) -> Platform:
    return Platform(Settings(database_url=url, secret_keys=(KEY,)), clock=FixedClock(AT))


def action(i: int) -> audit.Action:
    if i % 2:
        return audit.Action(
            "agent:alice",
            "agent",
            "subscriber.view",
            subject_msisdn=f"139{i % 10**8:08d}",
            address="10.1.2.3",
            detail={"what": "subscriptions"},
        )
    return audit.Action(
        "sp:SP0",
        "sp",
        "order.place",
        subject_msisdn=f"138{i % 10**8:08d}",
        address="10.9.8.7",
        detail={"service": "BENCH-FLOW", "channel": "sp", "order": 10**12 + i},
    )


def bench_batches(p: Platform, n: int, batch: int) -> dict[str, float]:
    t0 = time.perf_counter()
    done = 0
    while done < n:
        k = min(batch, n - done)
        with p.uow() as ctx:
            audit.record_many(ctx, [action(done + j) for j in range(k)])
        done += k
    dt = time.perf_counter() - t0
    return {"entries": n, "batch": batch, "seconds": dt, "per_second": n / dt}


def _proc(url: str, n: int, batch: int, offset: int, q: Any) -> None:
    p = platform(url)
    done = 0
    while done < n:
        k = min(batch, n - done)
        with p.uow() as ctx:
            audit.record_many(ctx, [action(offset + done + j) for j in range(k)])
        done += k
    p.db.engine.dispose()
    q.put(n)


def bench_processes(url: str, n: int, batch: int, procs: int) -> dict[str, float]:
    """Batches from several processes at once: they prepare in parallel and queue for the head."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    ps = [ctx.Process(target=_proc, args=(url, n // procs, batch, w * n, q)) for w in range(procs)]
    t0 = time.perf_counter()
    for pr in ps:
        pr.start()
    total = sum(q.get() for _ in ps)
    for pr in ps:
        pr.join()
    dt = time.perf_counter() - t0
    return {"entries": total, "processes": procs, "batch": batch, "seconds": dt, "per_second": total / dt}


def bench_threads(p: Platform, n: int, threads: int) -> dict[str, float]:
    per = n // threads

    def work(w: int) -> None:
        for i in range(per):
            with p.uow() as ctx:
                audit.record(
                    ctx,
                    actor="agent:alice",
                    role="agent",
                    action="subscriber.view",
                    subject_msisdn=f"139{(w * per + i) % 10**8:08d}",
                    address="10.1.2.3",
                )

    ts = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    return {"entries": per * threads, "threads": threads, "seconds": dt, "per_second": per * threads / dt}


def bench_copy(url: str, n: int) -> dict[str, float]:
    """COPY the last ``n`` entries, as stored, into an unindexed copy of the table: what the disk
    and the server take for the same rows with no chain, no MAC and no Python per row."""
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS audit_copy"))
        c.execute(text("CREATE TABLE audit_copy (LIKE audit_entry INCLUDING DEFAULTS)"))
        buf = c.execute(
            text(
                "SELECT seq, at, actor, role, action, subject_mac, subject, address, outcome, detail, hash "
                "FROM audit_entry ORDER BY seq DESC LIMIT :n"
            ),
            {"n": n},
        ).all()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        t0 = time.perf_counter()
        with cur.copy("COPY audit_copy FROM STDIN") as copy:  # type: ignore[attr-defined]
            for r in buf:
                copy.write_row(r)
        raw.commit()
        dt = time.perf_counter() - t0
    finally:
        raw.close()
    engine.dispose()
    return {"rows": len(buf), "seconds": dt, "per_second": len(buf) / dt}


def fill(p: Platform, total: int, batch: int = 50_000) -> None:
    """Grow the log to ``total`` entries quickly for the verify figure: the entries are the
    benchmark's own (``audit._entry`` and the chain's hash, as an append makes them), written a
    batch per transaction with the head moved on, without the per-append bookkeeping."""
    from mingbai.audit import rules
    from mingbai.audit.service import _ENTRY, _HEAD, _entry, subject_key
    from mingbai.db import insert_rows

    with p.uow() as ctx:
        key = subject_key(ctx)
    while True:
        with p.uow() as ctx:
            seq, prev = ctx.conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
            if seq >= total:
                return
            now = ctx.now()
            at_us = rules.epoch_us(now)
            rows = []
            for s in range(seq + 1, min(seq + batch, total) + 1):
                e = _entry(0, at_us, action(s), key)
                prev = rules.chain_hash_tail(prev, s, e.tail())
                rows.append(
                    {
                        "seq": s,
                        "at": now,
                        "actor": e.actor,
                        "role": e.role,
                        "action": e.action,
                        "subject_mac": e.subject_mac,
                        "subject": e.subject,
                        "address": e.address,
                        "outcome": e.outcome,
                        "detail": e.detail,
                        "hash": prev,
                    }
                )
            insert_rows(ctx.conn, _ENTRY, rows)
            ctx.conn.execute(_HEAD.update().where(_HEAD.c.id == 1).values(seq=rows[-1]["seq"], hash=prev))


def bench_verify(p: Platform, total: int) -> dict[str, Any]:
    fill(p, total)
    out: dict[str, Any] = {}
    with p.uow() as ctx:
        modes = [("sql", True), ("python", False)] if ctx.dialect == "postgresql" else [("python", False)]
    for name, in_sql in modes:
        t0 = time.perf_counter()
        with p.uow() as ctx:
            report = audit.verify(ctx, in_sql=in_sql)
        dt = time.perf_counter() - t0
        assert report.ok, report
        out[name] = {"entries": report.entries, "seconds": round(dt, 2), "per_second": round(report.entries / dt)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("pg", "sqlite"), default="pg")
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--single", type=int, default=4_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--verify", type=int, default=1_000_000)
    ap.add_argument("--verify-only", action="store_true", help="Only the verify figure (fill, then verify).")
    args = ap.parse_args()
    url = setup(args.backend)
    p = platform(url)
    try:
        if args.verify_only:
            print("verify:", bench_verify(p, args.verify), flush=True)
            return
        print("batches:", bench_batches(p, args.entries, args.batch), flush=True)
        print("batches, processes:", bench_processes(url, args.entries, args.batch, args.processes), flush=True)
        print("single appends, threads:", bench_threads(p, args.single, args.threads), flush=True)
        print("single appends, 1 thread:", bench_threads(p, args.single // 4, 1), flush=True)
        if args.backend == "pg":
            print("COPY reference:", bench_copy(url, args.entries), flush=True)
        if args.verify:
            print("verify:", bench_verify(p, args.verify), flush=True)
    finally:
        p.db.engine.dispose()
        if args.backend == "pg":
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text("DROP DATABASE IF EXISTS bench_audit WITH (FORCE)"))
            admin.dispose()


if __name__ == "__main__":
    main()
