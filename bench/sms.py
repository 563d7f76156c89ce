"""SMS path figures (issue 5): MT throughput to a direct SMPP peer with receipts handled, the
campaign sender's rate hold, and the crash test (kill -9 the sender at random points).

The peer is the test harness's fake SMSC (smpp34's Rust SMPP server) in its own process; the
outbox is on PostgreSQL (your own database: createdb -h 127.0.0.1 -U postgres bench_sms).

    .venv/bin/python bench/sms.py throughput --db postgresql://postgres@127.0.0.1/bench_sms -n 20000
    .venv/bin/python bench/sms.py campaign   --db postgresql://postgres@127.0.0.1/bench_sms --rate 500 --seconds 60
    .venv/bin/python bench/sms.py crash      --db postgresql://postgres@127.0.0.1/bench_sms -n 50000 --kills 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from tests.smpp.smsc import free_port  # noqa: E402

from mingbai.clock import SystemClock  # noqa: E402
from mingbai.config import Settings  # noqa: E402
from mingbai.db import Database, make_engine  # noqa: E402
from mingbai.ids import reserve_ids  # noqa: E402
from mingbai.messaging.models import OutboundSms  # noqa: E402
from mingbai.migrate import upgrade  # noqa: E402
from mingbai.platform import Platform  # noqa: E402

PY = sys.executable


def fresh_db(url: str) -> Platform:
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    return Platform(
        Settings(database_url=url, quiet_hours="none"), clock=SystemClock(), database=Database(make_engine(url))
    )


def fill(platform: Platform, n: int, *, text_of=lambda i: f"明白平台压测短信第{i}条,请勿回复。中国移动") -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    base = reserve_ids(n)
    rows = [
        {
            "msisdn": f"139{i:08d}",
            "id": base + i,
            "sender": "10086",
            "text": text_of(i),
            "kind": "bench",
            "segmentation": "concat",
            "status": "queued",
            "created_at": now,
            "due_at": now,
            "attempt": 0,
            "bulk": False,
        }
        for i in range(n)
    ]
    with platform.uow() as ctx:
        for i in range(0, n, 5000):
            ctx.session.execute(OutboundSms.__table__.insert(), rows[i : i + 5000])


def counts(platform: Platform) -> dict[str, int]:
    with platform.uow() as ctx:
        return {
            s: int(c)
            for s, c in ctx.session.execute(select(OutboundSms.status, func.count()).group_by(OutboundSms.status))
        }


def start_peer(port: int, stats: Path) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([PY, "-m", "tests.smpp.smsc", "--port", str(port), "--stats", str(stats)], cwd=ROOT)
    time.sleep(1.0)
    return p


def peer_stats(stats: Path) -> dict[str, int]:
    return json.loads(stats.read_text()) if stats.exists() else {}


def gateway_env(db: str, port: int, rate: float, window: int, doubt: float = 600.0) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MINGBAI_DATABASE_URL=db,
        MINGBAI_SMSC_HOST="127.0.0.1",
        MINGBAI_SMSC_PORT=str(port),
        MINGBAI_SMSC_SYSTEM_ID="bench",
        MINGBAI_SMSC_PASSWORD="bench",
        MINGBAI_SMSC_RATE=str(rate),
        MINGBAI_SMSC_WINDOW=str(window),
        MINGBAI_SMSC_DOUBT_WAIT_S=str(doubt),
        MINGBAI_SMSC_LEASE_TTL_S="2",
        MINGBAI_QUIET_HOURS="none",
    )
    return env


def start_gateway(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/mingbai"), "sms-gateway"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_final(platform: Platform, n: int, timeout: float) -> tuple[float, dict[str, int]]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c = counts(platform)
        if c.get("delivered", 0) >= n:
            return time.monotonic() - t0, c
        time.sleep(0.25)
    return time.monotonic() - t0, counts(platform)


def cmd_throughput(a: argparse.Namespace) -> None:
    platform = fresh_db(a.db)
    fill(platform, a.n)
    port, stats = free_port(), Path(f"/tmp/bench-smsc-{os.getpid()}.json")
    peer = start_peer(port, stats)
    gw = start_gateway(gateway_env(a.db, port, a.rate, a.window))
    try:
        # measure from the first accepted submit to the last receipt settled
        while peer_stats(stats).get("accepted", 0) == 0:
            time.sleep(0.05)
        took, c = wait_final(platform, a.n, 600)
        print(
            f"{a.n} MT submitted and settled by receipts in {took:.1f} s: {a.n / took:.0f} MT/s "
            f"(window {a.window}, limit {a.rate:g}/s); outbox {c}; peer {peer_stats(stats)}"
        )
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
        peer.send_signal(signal.SIGTERM)
        peer.wait(10)


def cmd_campaign(a: argparse.Namespace) -> None:
    """A campaign of many subscribers released at --rate; measure submits per second at the peer."""
    from mingbai.campaigns.service import plan_campaign, release_due, start_campaign

    platform = fresh_db(a.db)
    n = int(a.rate * a.seconds * 1.1)
    now = datetime.now(UTC)
    with platform.uow() as ctx:  # subscribers with one SMS subscription each: one SMS per subscriber
        ctx.session.execute(
            text(
                "INSERT INTO sp (code, name, hotline, status, credit_points, created_at, updated_at) "
                "VALUES ('SINA','新浪','9510567','active',100,:now,:now)"
            ),
            {"now": now},
        )
        ctx.session.execute(
            text(
                "INSERT INTO service (code, sp_code, name, type, billing, price_fen, scope, status, reminder_label, "
                "created_at, updated_at) VALUES ('NEWS','SINA','头条新闻','sms','monthly',500,'national','active',"
                "'新浪提供的头条新闻短信业务,信息费5元/月',:now,:now)"
            ),
            {"now": now},
        )
        base = reserve_ids(n)
        for i in range(0, n, 5000):
            ctx.session.execute(
                text(
                    "INSERT INTO subscription (msisdn, id, service_code, sp_code, order_id, channel, status, billing, "
                    "price_fen, trial, ordered_at, confirmed_at) VALUES (:m, :id, 'NEWS', 'SINA', :id, 'sp', 'active', "
                    "'monthly', 500, false, :now, :now)"
                ),
                [{"m": f"137{j:08d}", "id": base + j, "now": now} for j in range(i, min(n, i + 5000))],
            )
    with platform.uow() as ctx:
        plan = plan_campaign(
            ctx,
            name="bench",
            starts_at=now,
            ends_at=now + timedelta(days=1),
            rate_per_s=a.rate,
            quiet_hours="none",
            actor="bench",
        )
        start_campaign(ctx, plan.id)
    port, stats = free_port(), Path(f"/tmp/bench-smsc-{os.getpid()}.json")
    peer = start_peer(port, stats)
    gw = start_gateway(gateway_env(a.db, port, a.rate * 4, 100))
    samples: list[tuple[float, int]] = []
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.seconds + 5:
            with platform.uow() as ctx:
                release_due(ctx)
            samples.append((time.monotonic(), peer_stats(stats).get("accepted", 0)))
            time.sleep(0.5)
        # steady state: skip the first 5 s (first release, bind)
        steady = [(t, c) for t, c in samples if t - t0 >= 5]
        (ta, ca), (tb, cb) = steady[0], steady[-1]
        per_10s = []
        for i in range(len(steady)):
            j = next((k for k in range(i, len(steady)) if steady[k][0] - steady[i][0] >= 10), None)
            if j is not None:
                per_10s.append((steady[j][1] - steady[i][1]) / (steady[j][0] - steady[i][0]))
        print(
            f"campaign at {a.rate:g}/s: {cb - ca} submits in {tb - ta:.1f} s = {(cb - ca) / (tb - ta):.1f}/s "
            f"({(cb - ca) / (tb - ta) / a.rate - 1:+.1%}); 10-s windows min {min(per_10s):.1f} max {max(per_10s):.1f}"
        )
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
        peer.send_signal(signal.SIGTERM)
        peer.wait(10)


def cmd_crash(a: argparse.Namespace) -> None:
    platform = fresh_db(a.db)
    fill(platform, a.n)
    port, stats = free_port(), Path(f"/tmp/bench-smsc-{os.getpid()}.json")
    peer = start_peer(port, stats)
    env = gateway_env(a.db, port, a.rate, a.window, doubt=a.doubt)
    rng = random.Random(a.seed)
    t0 = time.monotonic()
    gw = start_gateway(env)
    try:
        for k in range(a.kills):
            time.sleep(rng.uniform(0.5, a.max_gap))
            gw.kill()  # SIGKILL: no unbind, no flush, nothing
            gw.wait()
            print(f"kill {k + 1:2d} at {time.monotonic() - t0:6.1f} s: outbox {counts(platform)}", flush=True)
            gw = start_gateway(env)
        took, c = wait_final(platform, a.n, 900)
        time.sleep(1.0)
        s = peer_stats(stats)
        print(f"after {a.kills} kills: {took:.1f} s to settle; outbox {c}; peer {s}")
        ok = c.get("delivered", 0) == a.n and s.get("unique") == a.n and s.get("duplicates") == 0
        print("EXACTLY ONCE" if ok else "MISMATCH")
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
        peer.send_signal(signal.SIGTERM)
        peer.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("throughput", "campaign", "crash"):
        p = sub.add_parser(name)
        p.add_argument("--db", default=os.environ.get("BENCH_DB", "postgresql://postgres@127.0.0.1:5432/bench_sms"))
        p.add_argument("--rate", type=float, default=5000.0)
        p.add_argument("--window", type=int, default=200)
        p.add_argument("-n", type=int, default=20000)
    sub.choices["campaign"].add_argument("--seconds", type=float, default=60.0)
    c = sub.choices["crash"]
    c.add_argument("--kills", type=int, default=20)
    c.add_argument("--max-gap", type=float, default=4.0)
    c.add_argument("--doubt", type=float, default=5.0, help="seconds an in-doubt MT waits for a receipt")
    c.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    {"throughput": cmd_throughput, "campaign": cmd_campaign, "crash": cmd_crash}[a.cmd](a)


if __name__ == "__main__":
    main()
