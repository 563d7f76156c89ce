"""SMS path figures (issue 5): MT throughput with receipts handled, to a direct SMPP peer or
through Jasmin 0.11.0 (tests/jasmin/harness.py starts it), the campaign sender's rate hold
(campaign SMS per second at the peer), and the crash test (kill -9 the sender at random points).

The peer is the test harness's fake SMSC (smpp34's Rust SMPP server) in its own process; the
outbox is on PostgreSQL (your own database: createdb -h 127.0.0.1 -U postgres bench_sms).

    .venv/bin/python bench/sms.py throughput --db postgresql://postgres@127.0.0.1/bench_sms -n 20000
    .venv/bin/python bench/sms.py throughput --db … --via jasmin --connectors 4 -n 5000 --receipt-delay 1
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


def start_peer(
    port: int, stats: Path, *, id_prefix: str = "F", receipt_delay: float = 0.0, per_second: bool = False
) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [
            PY,
            "-m",
            "tests.smpp.smsc",
            "--port",
            str(port),
            "--stats",
            str(stats),
            "--id-prefix",
            id_prefix,
            "--receipt-delay",
            str(receipt_delay),
            *(["--per-second"] if per_second else []),
        ],
        cwd=ROOT,
    )
    time.sleep(1.0)
    return p


def peer_stats(stats: Path) -> dict[str, int]:
    return json.loads(stats.read_text()) if stats.exists() else {}


def gateway_env(
    db: str, port: int, rate: float, window: int, doubt: float = 600.0, user: tuple[str, str] = ("bench", "bench")
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MINGBAI_DATABASE_URL=db,
        MINGBAI_SMSC_HOST="127.0.0.1",
        MINGBAI_SMSC_PORT=str(port),
        MINGBAI_SMSC_SYSTEM_ID=user[0],
        MINGBAI_SMSC_PASSWORD=user[1],
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_final(
    platform: Platform, n: int, timeout: float, stats: Path | None = None
) -> tuple[float, dict[str, int], float | None]:
    """Seconds until n rows are delivered, the outbox counts, and when the peer had accepted all n."""
    t0 = time.monotonic()
    all_at = None
    while time.monotonic() - t0 < timeout:
        if stats is not None and all_at is None and peer_stats(stats).get("accepted", 0) >= n:
            all_at = time.monotonic() - t0
        c = counts(platform)
        if c.get("delivered", 0) >= n:
            return time.monotonic() - t0, c, all_at
        time.sleep(0.25)
    return time.monotonic() - t0, counts(platform), all_at


def cmd_throughput(a: argparse.Namespace) -> None:
    """MT submitted with receipts handled: to the fake SMSC directly, or through Jasmin 0.11.0
    (Mingbai → Jasmin's SMPP server → Jasmin's client connector → the fake SMSC, receipts back)."""
    platform = fresh_db(a.db)
    fill(platform, a.n)
    port, stats = free_port(), Path(f"/tmp/bench-smsc-{os.getpid()}.json")
    peer = start_peer(port, stats, id_prefix=f"B{os.getpid()}-", receipt_delay=a.receipt_delay)
    jasmin = None
    gw = None
    try:
        if a.via == "jasmin":
            from tests.jasmin.harness import Jasmin

            jasmin = Jasmin(port, dlr_expiry=3600, connectors=a.connectors).start()
            print(f"Jasmin 0.11.0 up: SMPP server 127.0.0.1:{jasmin.smpp_port}, connectors {jasmin.cids}", flush=True)
            env = gateway_env(a.db, jasmin.smpp_port, a.rate, a.window, user=(jasmin.user, jasmin.password))
        else:
            env = gateway_env(a.db, port, a.rate, a.window)
        gw = start_gateway(env)
        # measure from the first accepted submit to the last receipt settled
        t0 = time.monotonic()
        while peer_stats(stats).get("accepted", 0) == 0:
            if time.monotonic() - t0 > 60:
                raise SystemExit(f"no MT reached the peer in 60 s; {jasmin.logs() if jasmin else ''}")
            time.sleep(0.05)
        cpu0 = {"mingbai": cpu_seconds(gw.pid), "peer": cpu_seconds(peer.pid)}
        if jasmin is not None and jasmin.proc is not None:
            cpu0["jasmind"] = cpu_seconds(jasmin.proc.pid)
        took, c, all_at = wait_final(platform, a.n, a.timeout, stats)
        done = c.get("delivered", 0)
        cpu = {
            k: cpu_seconds(gw.pid if k == "mingbai" else peer.pid if k == "peer" else jasmin.proc.pid) - v  # type: ignore[union-attr]
            for k, v in cpu0.items()
        }
        print(
            "CPU per MT (ms): "
            + ", ".join(f"{k} {v * 1000 / max(done, 1):.2f}" for k, v in cpu.items())
            + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        if all_at is not None:
            print(f"all {a.n} MT reached the peer after {all_at:.1f} s: {a.n / all_at:.0f} submit_sm/s end to end")
        print(
            f"{a.via}: {done} of {a.n} MT submitted and settled by receipts in {took:.1f} s: {done / took:.0f} MT/s "
            f"(window {a.window}, limit {a.rate:g}/s{f', {a.connectors} Jasmin connectors' if jasmin else ''}, "
            f"peer receipt delay {a.receipt_delay:g} s); outbox {c}; "
            f"peer {peer_stats(stats)}"
        )
    finally:
        if gw is not None:
            gw.send_signal(signal.SIGTERM)
            gw.wait(30)
        if jasmin is not None:
            jasmin.stop()
        peer.send_signal(signal.SIGTERM)
        peer.wait(10)
        stats.unlink(missing_ok=True)


def cmd_campaign(a: argparse.Namespace) -> None:
    """A campaign of many subscribers released at --rate; measure submits per second at the peer."""
    from mingbai.campaigns.service import plan_campaign, release_due, start_campaign

    platform = fresh_db(a.db)
    n = int(a.rate * (a.seconds + a.skip + 10))
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
    peer = start_peer(port, stats, per_second=True)
    # the sender's own limit well above the campaign's rate: the campaign's slots set the pace
    gw = start_gateway(gateway_env(a.db, port, a.rate * 4, 100))
    try:
        # release only once the sender is bound: slots that fall due while it starts would go out
        # in a burst when it comes up (they are due, and due rows are sent at once)
        t0 = time.monotonic()
        while peer_stats(stats).get("binds", 0) < 1:
            if time.monotonic() - t0 > 60:
                raise SystemExit("the sender did not bind to the peer in 60 s")
            time.sleep(0.1)
        t0 = time.monotonic()
        while True:
            with platform.uow() as ctx:
                release_due(ctx)
            if len(peer_stats(stats).get("per_second", [])) > a.seconds + a.skip + 2:
                break
            if time.monotonic() - t0 > a.seconds + a.skip + 60:
                raise SystemExit(f"the peer saw {peer_stats(stats).get('accepted', 0)} submits; too few")
            time.sleep(0.5)
        st = peer_stats(stats)
        # the first --skip seconds are the ramp; the last one is partial
        window = st["messages_per_second"][a.skip : a.skip + int(a.seconds)]
        pdus = sum(st["per_second"][a.skip : a.skip + int(a.seconds)])
        dev = sorted(n / a.rate - 1 for n in window)
        outside = sum(1 for d in dev if abs(d) > 0.05)
        tens = [sum(window[i : i + 10]) / 10 for i in range(0, len(window) - 9, 10)]
        total = sum(window)
        print(f"ramp, seconds 0..{a.skip - 1}: {st['messages_per_second'][: a.skip]}")
        print(f"campaign SMS per second at the peer, seconds {a.skip}..{a.skip + len(window) - 1}: {window}")
        print(
            f"campaign at {a.rate:g} SMS/s for {len(window)} s: {total} SMS ({pdus} submit_sm) = "
            f"{total / len(window):.1f}/s ({total / len(window) / a.rate - 1:+.2%}); per-second deviation "
            f"min {dev[0]:+.1%}, median {dev[len(dev) // 2]:+.1%}, max {dev[-1]:+.1%}; "
            f"{outside} of {len(window)} seconds outside ±5%; 10-s windows "
            + ", ".join(f"{x / a.rate - 1:+.1%}" for x in tens)
            + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
        peer.send_signal(signal.SIGTERM)
        peer.wait(10)
        stats.unlink(missing_ok=True)


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
        took, c, _ = wait_final(platform, a.n, 900)
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
        stats.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("throughput", "campaign", "crash"):
        p = sub.add_parser(name)
        p.add_argument("--db", default=os.environ.get("BENCH_DB", "postgresql://postgres@127.0.0.1:5432/bench_sms"))
        p.add_argument("--rate", type=float, default=5000.0)
        p.add_argument("--window", type=int, default=200)
        p.add_argument("-n", type=int, default=20000)
    t = sub.choices["throughput"]
    t.add_argument("--via", choices=("direct", "jasmin"), default="direct", help="the SMPP peer Mingbai binds to")
    t.add_argument("--connectors", type=int, default=1, help="Jasmin client connectors to the peer (round-robin)")
    t.add_argument("--receipt-delay", type=float, default=0.0, help="seconds the peer waits before each receipt")
    t.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    sub.choices["campaign"].add_argument("--seconds", type=float, default=60.0)
    sub.choices["campaign"].add_argument("--skip", type=int, default=3, help="seconds of ramp not counted")
    c = sub.choices["crash"]
    c.add_argument("--kills", type=int, default=20)
    c.add_argument("--max-gap", type=float, default=4.0)
    c.add_argument("--doubt", type=float, default=5.0, help="seconds an in-doubt MT waits for a receipt")
    c.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    {"throughput": cmd_throughput, "campaign": cmd_campaign, "crash": cmd_crash}[a.cmd](a)


if __name__ == "__main__":
    main()
