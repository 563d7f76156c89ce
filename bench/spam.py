"""Spam filter benchmark: quality on held-out folds, speed in process and over HTTP, and
rspamd (Debian's package) side by side on the same folds in the same run.

    .venv/bin/python bench/spam.py                      # everything, rspamd if installed
    .venv/bin/python bench/spam.py --eval-folds 5       # all five outer folds (slower)
    .venv/bin/python bench/spam.py --no-rspamd --no-http

Quality: the training file is split into stratified folds (fixed seed); for each evaluated
fold our model is trained on the other folds by the same code as ``mingbai spam train``
(thresholds from inner folds) and rspamd's Bayes classifier learns the same messages, each
SMS wrapped as a minimal RFC 822 message and posted to the controller with
``Learn-Type: bulk``; both then score the held-out fold (rspamd over HTTP /checkv2).

Speed: one message at a time through the full engine (content model + port and behaviour
rules) in this process, wall clock and CPU time; the HTTP endpoint ``/api/v1/spam/check`` of
``mingbai serve`` one request at a time and in batches; rspamd's /checkv2 with only its Bayes
symbols enabled (its cheapest configuration), one request at a time and 8 in flight.
Everything binds to 127.0.0.1. rspamd gets its own Redis on its own port, stopped after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mingbai.spam.engine import Message, PortInfo, Snapshot, SpamEngine  # noqa: E402
from mingbai.spam.model import load_model, shipped_version  # noqa: E402
from mingbai.spam.rules import Strategy  # noqa: E402
from mingbai.spam.train import DEFAULT_DATA, Example, TrainParams, load_tsv, metrics_at, train  # noqa: E402

BANK_PORT = "1065750012345"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def f1_at_ham_rate(labels: Sequence[int], scores: Sequence[float], ham_rate: float) -> dict[str, float]:
    """Oracle comparison: the best threshold on the test fold itself that blocks at most
    ``ham_rate`` of its ham (favours whoever gets it)."""
    from mingbai.spam.train import threshold_for_ham_rate

    ham = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    t = threshold_for_ham_rate(ham, ham_rate)
    return metrics_at(labels, scores, t, t)


# -- the messages a node sees ---------------------------------------------------------------------


def traffic(texts: Sequence[str], n: int) -> list[Message]:
    """A mix like an SMSC's: mostly person-to-person, some industry ports (signed, unsigned,
    unregistered) and some international senders; senders and recipients spread out."""
    out = []
    for i in range(n):
        text = texts[i % len(texts)]
        kind = i % 20
        recipient = f"139{i % 100_000:08d}"
        if kind == 0:
            out.append(Message(BANK_PORT, recipient, text + "【工商银行】", "industry"))
        elif kind == 1:
            out.append(Message(f"10690{i % 97:05d}", recipient, text, "industry"))
        elif kind == 2:
            out.append(Message(f"+8529{i % 9999:07d}", recipient, text, "international"))
        else:
            out.append(Message(f"138{i % 20_000:08d}", recipient, text, "person"))
    return out


def bench_in_process(messages: Sequence[Message]) -> dict[str, float]:
    model = load_model(shipped_version())
    engine = SpamEngine(
        Snapshot(
            Strategy(version=1, model_version=model.version),
            model,
            {BANK_PORT: PortInfo("中国工商银行", "工商银行", "active")},
        )
    )
    now = time.time()
    for m in messages[:2000]:  # warm up caches and the behaviour tables
        engine.check(m, now)
    engine = SpamEngine(engine.snapshot)
    wall: list[int] = []
    cpu: list[int] = []
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    check = engine.check
    verdicts = {"block": 0, "review": 0, "pass": 0}
    t_wall, t_cpu = time.perf_counter(), time.thread_time()
    for i, m in enumerate(messages):
        a, b = pc(), tt()
        d = check(m, now + i * 0.001)
        cpu.append(tt() - b)
        wall.append(pc() - a)
        verdicts[d.verdict] += 1
    elapsed_wall, elapsed_cpu = time.perf_counter() - t_wall, time.thread_time() - t_cpu
    wall.sort()
    cpu.sort()
    return {
        "messages": len(messages),
        "msgs_per_s_wall": len(messages) / elapsed_wall,
        "msgs_per_cpu_s": len(messages) / elapsed_cpu,
        "p50_us_wall": percentile(wall, 0.50) / 1000,
        "p99_us_wall": percentile(wall, 0.99) / 1000,
        "p50_us_cpu": percentile(cpu, 0.50) / 1000,
        "p99_us_cpu": percentile(cpu, 0.99) / 1000,
        "p999_us_cpu": percentile(cpu, 0.999) / 1000,
        **{f"verdict_{k}": v for k, v in verdicts.items()},
    }


# -- HTTP: mingbai serve --------------------------------------------------------------------------


@contextmanager
def mingbai_server(workdir: Path) -> Iterator[tuple[str, str]]:
    db = f"sqlite:///{workdir / 'bench.db'}"
    exe = [sys.executable, "-m", "mingbai.cli.main", "--db", db]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([*exe, "db", "upgrade"], check=True, capture_output=True, env=env)
    key = (
        subprocess.run(
            [*exe, "apikey", "create", "--role", "smsc", "--label", "bench"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        .stdout.strip()
        .split()[-1]
    )
    subprocess.run(
        [*exe, "spam", "port", "register", BANK_PORT, "--owner", "中国工商银行", "--signature", "工商银行"],
        check=True,
        capture_output=True,
        env=env,
    )
    port = free_port()
    proc = subprocess.Popen(
        [*exe, "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", key
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def timed_requests(send: Callable[[int], None], n: int, concurrency: int = 1) -> dict[str, float]:
    lat: list[float] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            send(i)
            with lock:
                lat.append(time.perf_counter() - t)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    lat.sort()
    return {
        "requests": n,
        "concurrency": concurrency,
        "req_per_s": n / elapsed,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


def bench_http(messages: Sequence[Message], n: int) -> dict[str, Any]:
    import httpx

    body = [{"sender": m.sender, "recipient": m.recipient, "text": m.text, "port_type": m.port_type} for m in messages]
    with tempfile.TemporaryDirectory() as tmp, mingbai_server(Path(tmp)) as (base, key):
        client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)
        for i in range(50):
            client.post("/api/v1/spam/check", json=body[i])

        def one(i: int) -> None:
            r = client.post("/api/v1/spam/check", json=body[i % len(body)])
            r.raise_for_status()

        single = timed_requests(one, n)
        batch_size = 100

        def batch(i: int) -> None:
            chunk = [body[(i * batch_size + j) % len(body)] for j in range(batch_size)]
            r = client.post("/api/v1/spam/check/batch", json={"messages": chunk})
            r.raise_for_status()

        batched = timed_requests(batch, max(1, n // batch_size))
        batched["msgs_per_s"] = batched["req_per_s"] * batch_size
        client.close()
    return {"single": single, "batch_100": batched}


# -- rspamd -----------------------------------------------------------------------------------------


def rfc822(m: Message) -> bytes:
    return (
        f"From: <{m.sender.lstrip('+')}@sms.invalid>\r\nTo: <{m.recipient}@sms.invalid>\r\nSubject: SMS\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{m.text}\r\n"
    ).encode()


class Rspamd:
    """rspamd from Debian with its own Redis, configured in a temporary folder."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.redis_port = free_port()
        self.normal_port = free_port()
        self.controller_port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Rspamd:
        d = self.dir
        for sub in ("local.d", "override.d", "db", "run", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        files = {
            "local.d/worker-normal.inc": f'bind_socket = "127.0.0.1:{self.normal_port}";\ncount = 1;\n',
            "local.d/worker-controller.inc": (
                f'bind_socket = "127.0.0.1:{self.controller_port}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n'
            ),
            "override.d/worker-proxy.inc": f'enabled = false;\nbind_socket = "127.0.0.1:{free_port()}";\n',
            "override.d/worker-fuzzy.inc": f'enabled = false;\ncount = 0;\nbind_socket = "127.0.0.1:{free_port()}";\n',
            # short texts: let Bayes classify and learn whatever it gets (defaults are for email)
            "local.d/classifier-bayes.conf": (
                f'servers = "127.0.0.1:{self.redis_port}";\nmin_tokens = 1;\nmin_learns = 1;\nautolearn = false;\n'
            ),
            "local.d/redis.conf": f'servers = "127.0.0.1:{self.redis_port}";\n',
            # no network here: a resolver that answers nothing, quickly
            "local.d/options.inc": 'dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }\n',
            "local.d/logging.inc": 'type = "file"; filename = "$LOGDIR/rspamd.log"; level = "error";\n',
        }
        for name, text in files.items():
            (d / name).write_text(text)
        subprocess.run(["chown", "-R", "_rspamd:_rspamd", str(d)], check=False)
        self.procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    "rspamd",
                    "-f",
                    "-u",
                    "_rspamd",
                    "-g",
                    "_rspamd",
                    "-c",
                    "/etc/rspamd/rspamd.conf",
                    f"--var=LOCAL_CONFDIR={d}",
                    f"--var=DBDIR={d / 'db'}",
                    f"--var=RUNDIR={d / 'run'}",
                    f"--var=LOGDIR={d / 'log'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_http(f"http://127.0.0.1:{self.controller_port}/ping")
        wait_http(f"http://127.0.0.1:{self.normal_port}/ping")
        return self

    def __exit__(self, *exc: object) -> None:
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    def flush(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "FLUSHALL"], check=True, capture_output=True)

    def learn(self, examples: Sequence[Example]) -> float:
        import httpx

        client = httpx.Client(timeout=30)
        start = time.perf_counter()
        for e in examples:
            path = "learnspam" if e.label else "learnham"
            r = client.post(
                f"http://127.0.0.1:{self.controller_port}/{path}",
                content=rfc822(Message("13800138000", "13900139000", e.text)),
                headers={"Learn-Type": "bulk"},
            )
            # rspamd refuses to learn a message with no text tokens; that is its business
            if r.status_code not in (200, 208, 400):
                r.raise_for_status()
        client.close()
        return len(examples) / (time.perf_counter() - start)

    SETTINGS = json.dumps({"symbols_enabled": ["BAYES_SPAM", "BAYES_HAM"]})

    def spam_probability(self, client: Any, m: Message) -> float:
        r = client.post(
            f"http://127.0.0.1:{self.normal_port}/checkv2", content=rfc822(m), headers={"Settings": self.SETTINGS}
        )
        r.raise_for_status()
        symbols = r.json().get("symbols", {})
        for name in ("BAYES_SPAM", "BAYES_HAM"):
            if name in symbols:
                pct = float(symbols[name]["options"][0].rstrip("%")) / 100
                # the option is the confidence in the symbol's own class
                return 0.5 + pct / 2 if name == "BAYES_SPAM" else 0.5 - pct / 2
        return 0.5  # not classified

    def score(self, examples: Sequence[Example]) -> list[float]:
        import httpx

        client = httpx.Client(timeout=30)
        out = [self.spam_probability(client, Message("13800138000", "13900139000", e.text)) for e in examples]
        client.close()
        return out

    def throughput(self, messages: Sequence[Message], n: int, concurrency: int) -> dict[str, float]:
        import httpx

        clients = threading.local()

        def one(i: int) -> None:
            if not hasattr(clients, "c"):
                clients.c = httpx.Client(timeout=30)
            self.spam_probability(clients.c, messages[i % len(messages)])

        return timed_requests(one, n, concurrency)


# -- quality -----------------------------------------------------------------------------------------


def quality(args: argparse.Namespace, examples: list[Example], peer: Rspamd | None) -> list[dict[str, Any]]:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray([e.label for e in examples])
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    results = []
    for k, (train_idx, test_idx) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        if k >= args.eval_folds:
            break
        train_set = [examples[i] for i in train_idx]
        test_set = [examples[i] for i in test_idx]
        test_labels = [e.label for e in test_set]
        t = time.perf_counter()
        model = train(train_set, TrainParams(seed=args.seed)).model
        ours_scores = [model.score(e.text) for e in test_set]
        ours = metrics_at(test_labels, ours_scores, model.block_at, model.review_at)
        row: dict[str, Any] = {"fold": k, "ours": ours, "ours_train_s": round(time.perf_counter() - t, 1)}
        print(f"fold {k}: ours {ours}", flush=True)
        if peer is not None:
            peer.flush()
            learn_rate = peer.learn(train_set)
            rs_scores = peer.score(test_set)
            natural = metrics_at(test_labels, rs_scores, 0.5000001, 0.5000001)
            oracle = f1_at_ham_rate(test_labels, rs_scores, max(ours["ham_blocked"], 0.006))
            row["rspamd"] = {"natural": natural, "oracle_same_ham_rate": oracle, "learn_per_s": round(learn_rate, 1)}
            print(f"fold {k}: rspamd {row['rspamd']}", flush=True)
        results.append(row)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--eval-folds", type=int, default=1, help="how many of the outer folds to evaluate")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--messages", type=int, default=30_000, help="messages for the in-process figure")
    ap.add_argument("--http-requests", type=int, default=2000)
    ap.add_argument("--peer-requests", type=int, default=2000)
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--no-rspamd", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    loaded = load_tsv(args.data)
    examples = loaded.examples
    texts = [e.text for e in examples]
    print(f"data: {len(examples)} messages ({sum(e.label for e in examples)} spam), sha256 {loaded.sha256[:12]}")
    messages = traffic(texts, args.messages)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "argv": sys.argv[1:]}
    results["load_average"] = os.getloadavg()

    results["in_process"] = ip = bench_in_process(messages)
    print(
        f"in process, one at a time: {ip['msgs_per_s_wall']:,.0f} msg/s wall, {ip['msgs_per_cpu_s']:,.0f} msg/s "
        f"per CPU-second; p50 {ip['p50_us_cpu']:.1f} µs, p99 {ip['p99_us_cpu']:.1f} µs CPU "
        f"(wall p50 {ip['p50_us_wall']:.1f}, p99 {ip['p99_us_wall']:.1f})",
        flush=True,
    )
    if not args.no_http:
        results["http"] = http = bench_http(messages, args.http_requests)
        print(
            f"HTTP /api/v1/spam/check: {http['single']['req_per_s']:,.0f} msg/s one at a time "
            f"(p50 {http['single']['p50_ms']:.2f} ms, p99 {http['single']['p99_ms']:.2f} ms); "
            f"batch of 100: {http['batch_100']['msgs_per_s']:,.0f} msg/s",
            flush=True,
        )
    use_rspamd = not args.no_rspamd and shutil.which("rspamd") and shutil.which("redis-server")
    if not args.no_rspamd and not use_rspamd:
        print("rspamd or redis-server not installed (apt-get install rspamd redis-server): peer skipped")
    with tempfile.TemporaryDirectory(prefix="mingbai-rspamd-") as tmp:
        peer_cm = Rspamd(Path(tmp)) if use_rspamd else None
        if peer_cm is not None:
            peer_cm.__enter__()
        try:
            results["quality"] = quality(args, examples, peer_cm)
            if peer_cm is not None:
                results["rspamd_speed"] = {
                    "single": peer_cm.throughput(messages, args.peer_requests, 1),
                    "concurrent_8": peer_cm.throughput(messages, args.peer_requests, 8),
                }
                print(f"rspamd /checkv2 (Bayes only): {results['rspamd_speed']}", flush=True)
        finally:
            if peer_cm is not None:
                peer_cm.__exit__(None, None, None)
    summarize(results)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2))


def summarize(r: dict[str, Any]) -> None:
    print("\n== summary ==")
    ip = r["in_process"]
    print(f"in process: {ip['msgs_per_cpu_s']:,.0f} msg/s per CPU-second, p99 {ip['p99_us_cpu']:.1f} µs CPU")
    for row in r["quality"]:
        o = row["ours"]
        line = (
            f"fold {row['fold']}: ours F1(block) {o['f1_block']:.4f}, ham blocked {o['ham_blocked']:.2%}, "
            f"recall block+review {o['recall_block_or_review']:.4f}"
        )
        if "rspamd" in row:
            n, q = row["rspamd"]["natural"], row["rspamd"]["oracle_same_ham_rate"]
            line += (
                f" | rspamd F1 {n['f1_block']:.4f} (ham blocked {n['ham_blocked']:.2%}); at ≤ the same ham rate "
                f"with a threshold tuned on the test fold: F1 {q['f1_block']:.4f}"
            )
        print(line)
    if "rspamd_speed" in r:
        best = max(r["rspamd_speed"]["single"]["req_per_s"], r["rspamd_speed"]["concurrent_8"]["req_per_s"])
        print(f"rspamd best {best:,.0f} msg/s; ours in process / rspamd = {ip['msgs_per_s_wall'] / best:.0f}× (wall)")
        if "http" in r:
            print(f"ours over HTTP (batch 100) / rspamd = {r['http']['batch_100']['msgs_per_s'] / best:.1f}×")


if __name__ == "__main__":
    main()
