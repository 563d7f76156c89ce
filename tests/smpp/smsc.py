"""A small SMSC for tests and benchmarks, on the ``smpp34`` package's SMPP server (Rust core).

It accepts any bind, answers submit_sm (or throttles / refuses them by policy), remembers every
message it accepted (so duplicates show), sends delivery receipts in the state the test chooses,
keeps receipts for an ESME that is not bound and delivers them when it binds again (as a real
SMSC does), and injects MOs, long ones as UDH parts.

Use :class:`FakeSmsc` in-process (it runs its own event loop in a thread), or as a process:
``python -m tests.smpp.smsc --port 2775 --stats /tmp/smsc.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import smpp34

DELIVRD = "DELIVRD"
_NUMBERED = re.compile(r"\((\d+)/(\d+)\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Submitted:
    system_id: str
    source: str
    destination: str
    esm_class: int
    data_coding: int
    payload: bytes
    message_id: str
    at: float

    @property
    def text(self) -> str:
        data = self.payload
        if self.esm_class & 0x40 and data:
            data = data[data[0] + 1 :]
        return data.decode("utf-16-be") if self.data_coding == 8 else data.decode("latin-1")

    @property
    def first_part(self) -> bool:
        """A whole message, or the first part of one: UDH part 1, or a numbered text's "(1/n)"."""
        c = self.concat
        if c is not None:
            return c[2] == 1
        m = _NUMBERED.match(self.text[:12])
        return m is None or m.group(1) == "1"

    @property
    def concat(self) -> tuple[int, int, int] | None:
        if not (self.esm_class & 0x40) or len(self.payload) < 6 or self.payload[1] != 0:
            return None
        return self.payload[3], self.payload[4], self.payload[5]


@dataclass
class Policy:
    #: receipt stat for a message, or None for no receipt at all
    receipt: Callable[[Submitted], str | None] = lambda s: DELIVRD
    receipt_delay: float = 0.0
    #: submit_sm command_status to answer with (0 = accept)
    answer: Callable[[Submitted, int], int] = lambda s, n: 0


@dataclass
class _Receipt:
    system_id: str
    source: str  # the handset
    destination: str  # the ESME's address
    text: bytes
    due: float


class FakeSmsc:
    def __init__(
        self, port: int | None = None, policy: Policy | None = None, keep: bool = True, id_prefix: str = "F"
    ) -> None:
        self.port = port or free_port()
        #: message ids are ``<prefix><9 digits>``: a gateway in front of several runs (Jasmin keeps
        #: them in a shared Redis) needs them unique per run
        self.id_prefix = id_prefix
        self.policy = policy or Policy()
        self.keep = keep  # keep every Submitted (tests); counts only (benchmarks)
        self.submitted: list[Submitted] = []
        self.counts: collections.Counter[tuple[str, bytes]] = collections.Counter()
        self.total_submits = 0
        self.accepted = 0
        self.receipts_sent = 0
        self.binds = 0
        self.sessions: dict[str, smpp34.Esme] = {}
        self._pending: collections.deque[_Receipt] = collections.deque()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: smpp34.Server | None = None
        self._lock = threading.Lock()
        self.first_submit_at: float | None = None
        self.submit_times: list[float] = []
        #: when each message (a single SMS, or the first part of a longer one) was accepted
        self.message_times: list[float] = []
        self._per_second: collections.Counter[int] = collections.Counter()
        self._messages_per_second: collections.Counter[int] = collections.Counter()

    # -- lifecycle
    def start(self) -> FakeSmsc:
        self._thread = threading.Thread(target=self._main, name="fake-smsc", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake SMSC did not start")
        return self

    def _main(self) -> None:
        asyncio.run(self.serve())

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        self._server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="FAKESMSC")
        await self._server.start()
        self._ready.set()
        tasks = [asyncio.create_task(self._events()), asyncio.create_task(self._receipts())]
        await self._stop.wait()
        for t in tasks:
            t.cancel()
        await self._server.stop()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def reset(self, policy: Policy | None = None) -> None:
        """Forget what was submitted (one SMSC serving several tests); a new policy."""
        with self._lock:
            self.policy = policy or Policy()
            self.submitted.clear()
            self.counts.clear()
            self.submit_times.clear()
            self.message_times.clear()
            self._per_second.clear()
            self._messages_per_second.clear()
            self.first_submit_at = None

    def kick(self) -> None:
        """Drop every bound session (as an SMSC restart would)."""
        fut = asyncio.run_coroutine_threadsafe(self._kick(), self._loop)  # type: ignore[arg-type]
        fut.result(10)

    async def _kick(self) -> None:
        for esme in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await esme.unbind()

    # -- events
    async def _events(self) -> None:
        assert self._server is not None
        while True:
            ev = await self._server.next()
            if isinstance(ev, smpp34.Esme):
                self.sessions[ev.session_id] = ev
                self.binds += 1
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self._on_submit(ev)

    def _system_of(self, session_id: str) -> str:
        esme = self.sessions.get(session_id)
        return esme.system_id if esme is not None else "?"

    def _on_submit(self, ev: smpp34.SubmitSmEvent) -> None:
        now = time.monotonic()
        s = Submitted(
            self._system_of(ev.session_id),
            ev.source_addr,
            ev.destination_addr,
            ev.esm_class,
            ev.data_coding,
            bytes(ev.short_message),
            "",
            now,
        )
        self.total_submits += 1
        status = self.policy.answer(s, self.total_submits)
        if status:
            ev.reject(status)
            return
        s.message_id = f"{self.id_prefix}{next(self._ids):09d}"
        ev.accept(message_id=s.message_id)
        with self._lock:
            self.accepted += 1
            self.counts[(s.destination, s.payload)] += 1
            if self.first_submit_at is None:
                self.first_submit_at = now
            self.submit_times.append(now)
            second = int(now - self.first_submit_at)
            self._per_second[second] += 1
            if s.first_part:
                self.message_times.append(now)
                self._messages_per_second[second] += 1
            if self.keep:
                self.submitted.append(s)
        stat = self.policy.receipt(s)
        if stat is not None and ev.registered_delivery & 0x01:
            text = (
                f"id:{s.message_id} sub:001 dlvrd:{'001' if stat == DELIVRD else '000'} "
                "submit date:2611211200 done date:2611211200 "
                f"stat:{stat} err:{'000' if stat == DELIVRD else '001'} text:"
            ).encode("ascii")
            self._pending.append(_Receipt(s.system_id, s.destination, s.source, text, now + self.policy.receipt_delay))

    async def _receipts(self) -> None:
        """Deliver due receipts to a bound session of the same system_id; keep them otherwise."""
        inflight: set[asyncio.Task[None]] = set()
        while True:
            if not self._pending:
                await asyncio.sleep(0.005)
                continue
            now = time.monotonic()
            r = self._pending[0]
            if r.due > now:
                await asyncio.sleep(min(0.01, r.due - now))
                continue
            esme = next((e for e in self.sessions.values() if e.system_id == r.system_id and e.can_receive), None)
            if esme is None:
                await asyncio.sleep(0.05)
                continue
            self._pending.popleft()
            while len(inflight) >= 200:
                await asyncio.sleep(0.001)
            t = asyncio.create_task(self._send_receipt(esme, r))
            inflight.add(t)
            t.add_done_callback(inflight.discard)

    async def _send_receipt(self, esme: smpp34.Esme, r: _Receipt) -> None:
        try:
            resp = await esme.deliver_sm(r.destination, r.text, source_addr=r.source, esm_class=0x04)
            ok = resp.is_success
        except Exception:
            ok = False
        if ok:
            self.receipts_sent += 1
        else:  # not acknowledged: keep it for the next bind, as an SMSC would
            self._pending.appendleft(r)
            await asyncio.sleep(0.05)

    # -- MO
    def send_mo(
        self, source: str, destination: str, text: str, *, parts: int = 1, ref: int = 7, system_id: str | None = None
    ) -> None:
        """Deliver an MO (UCS-2; with ``parts`` > 1 as UDH-concatenated parts, last part first)."""
        fut = asyncio.run_coroutine_threadsafe(
            self._send_mo(source, destination, text, parts, ref, system_id), self._loop
        )  # type: ignore[arg-type]
        fut.result(30)

    def send_mos(self, mos: list[tuple[str, str, str]]) -> list[int]:
        """Deliver single-part MOs all at once, without waiting for one answer before the next
        (as a busy SMSC does); returns each deliver_sm_resp status, in order."""

        async def all_at_once() -> list[int]:
            esme = next(e for e in self.sessions.values() if e.can_receive)
            answers = await asyncio.gather(
                *(
                    esme.deliver_sm(to, text.encode("utf-16-be"), source_addr=src, data_coding=8)
                    for src, to, text in mos
                )
            )
            return [a.command_status for a in answers]

        return asyncio.run_coroutine_threadsafe(all_at_once(), self._loop).result(30)  # type: ignore[arg-type]

    async def _send_mo(
        self, source: str, destination: str, text: str, parts: int, ref: int, system_id: str | None
    ) -> None:
        deadline = time.monotonic() + 20
        while True:
            esme = next((e for e in self.sessions.values() if system_id in (None, e.system_id) and e.can_receive), None)
            if esme is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no ESME bound to receive the MO")
            await asyncio.sleep(0.05)
        if parts == 1:
            resp = await esme.deliver_sm(destination, text.encode("utf-16-be"), source_addr=source, data_coding=8)
            if not resp.is_success:
                raise RuntimeError(f"MO refused: {resp.command_status:#x}")
            return
        size = -(-len(text) // parts)
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        for seq in reversed(range(1, len(chunks) + 1)):  # out of order on purpose
            udh = bytes((5, 0, 3, ref, len(chunks), seq))
            resp = await esme.deliver_sm(
                destination,
                udh + chunks[seq - 1].encode("utf-16-be"),
                source_addr=source,
                data_coding=8,
                esm_class=0x40,
            )
            if not resp.is_success:
                raise RuntimeError(f"MO part refused: {resp.command_status:#x}")

    # -- what happened
    def messages(self, destination: str) -> list[str]:
        """What the handset shows: concatenated parts joined, in order of arrival."""
        with self._lock:
            subs = [s for s in self.submitted if s.destination == destination]
        order: list[str | tuple[int, int]] = []
        groups: dict[tuple[int, int], dict[int, str]] = {}
        for s in subs:
            c = s.concat
            if c is None:
                order.append(s.text)
                continue
            key = (c[0], c[1])
            if key not in groups:
                groups[key] = {}
                order.append(key)
            groups[key][c[2]] = s.text
        return [m if isinstance(m, str) else "".join(groups[m][i] for i in sorted(groups[m])) for m in order]

    def duplicates(self) -> int:
        with self._lock:
            return sum(n - 1 for n in self.counts.values() if n > 1)

    def per_second(self, messages: bool = False) -> list[int]:
        """Submits (or messages: whole ones and first parts) accepted in each whole second since the
        first submit; the last second may be partial. Counted as they arrive (no pass over all)."""
        with self._lock:
            counts = dict(self._messages_per_second if messages else self._per_second)
        return [counts.get(i, 0) for i in range(max(counts, default=-1) + 1)]

    def stats(self, per_second: bool = False) -> dict[str, object]:
        extra: dict[str, object] = (
            {"per_second": self.per_second(), "messages_per_second": self.per_second(messages=True)}
            if per_second
            else {}
        )
        with self._lock:
            return extra | {
                "submits": self.total_submits,
                "accepted": self.accepted,
                "unique": len(self.counts),
                "duplicates": sum(n - 1 for n in self.counts.values() if n > 1),
                "receipts_sent": self.receipts_sent,
                "receipts_pending": len(self._pending),
                "binds": self.binds,
            }


def main() -> None:
    ap = argparse.ArgumentParser(description="A fake SMSC (smpp34 server) that counts what it accepts.")
    ap.add_argument("--port", type=int, default=2775)
    ap.add_argument("--stats", help="write counts as JSON here every half second")
    ap.add_argument("--receipt-delay", type=float, default=0.0)
    ap.add_argument("--per-second", action="store_true", help="add accepted submits per second to the stats")
    ap.add_argument("--id-prefix", default="F", help="message ids are PREFIX + 9 digits")
    args = ap.parse_args()
    smsc = FakeSmsc(args.port, Policy(receipt_delay=args.receipt_delay), keep=False, id_prefix=args.id_prefix)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        async def dump() -> None:
            while True:
                await asyncio.sleep(0.5)
                if args.stats:
                    with open(args.stats + ".tmp", "w") as f:
                        json.dump(smsc.stats(args.per_second), f)
                    import os

                    os.replace(args.stats + ".tmp", args.stats)

        t = asyncio.create_task(dump())
        await smsc.serve(stop)
        t.cancel()
        if args.stats:
            with open(args.stats, "w") as f:
                json.dump(smsc.stats(args.per_second), f)

    asyncio.run(run())


if __name__ == "__main__":
    main()
