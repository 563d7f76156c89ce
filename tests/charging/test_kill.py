"""kill -9 a billing run mid-way, run it again: the result is exactly a clean run's, nothing twice.

The killed run is a real ``mingbai billing run`` process, killed with SIGKILL while it is between
or inside chunks; the comparison is of every charge and its reminder text.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import text

from mingbai.charging.billing import list_runs, run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.simulate import fingerprint, forget_period, populate
from mingbai.errors import Conflict

APRIL = parse_billing_period("2026-04")


def _rerun(platform) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            run_billing(platform, APRIL, actor="rerun", chunk_size=150)
            return
        except Conflict:  # the killed process's session has not been reaped by the server yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_killed_run_restarted_equals_a_clean_run(platform, clock, db_url):
    with platform.db.engine.begin() as conn:
        populate(conn, subscriptions=6000, subscribers=2400, period=APRIL)
    clock.set(APRIL.start + timedelta(minutes=5))
    clean_summary = run_billing(platform, APRIL, actor="clean", chunk_size=200)
    with platform.db.engine.connect() as conn:
        clean = fingerprint(conn, APRIL.label)
    assert clean.charges == clean_summary.charged == 6000 * 75 // 100 * 8 // 10
    assert clean.unmatched == 0 and clean.reminders == clean.charges
    with platform.db.engine.begin() as conn:
        forget_period(conn, APRIL.label)

    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mingbai.cli.main",
            "--db",
            db_url,
            "--at",
            clock.now().isoformat(),
            "billing",
            "run",
            "--period",
            APRIL.label,
            "--chunk-size",
            "200",
            "--throttle-ms",
            "40",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < 8:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
            with platform.db.engine.connect() as conn:
                done = conn.execute(text("SELECT coalesce(max(chunks_done), 0) FROM billing_run")).scalar_one()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with platform.db.engine.connect() as conn:
        partial = fingerprint(conn, APRIL.label, keep_rows=False)
    assert 0 < partial.charges < clean.charges  # killed part-way…
    assert partial.unmatched == 0  # …and every committed charge already has its reminder

    _rerun(platform)
    with platform.db.engine.connect() as conn:
        after = fingerprint(conn, APRIL.label)
    assert after.rows == clean.rows
    assert (after.charges, after.reminders, after.amount_fen, after.unmatched) == (
        clean.charges,
        clean.reminders,
        clean.amount_fen,
        0,
    )
    with platform.uow() as ctx:
        statuses = [r.status for r in list_runs(ctx, period=APRIL.label)]
    assert statuses == ["done", "interrupted"]
