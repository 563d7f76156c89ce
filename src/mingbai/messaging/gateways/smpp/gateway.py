"""The engine of the SMPP path: :class:`SmppGateway`, Mingbai as an ESME bound to the operator's
SMSC as a transceiver (SMPP 3.4).

It runs as a ``mingbai sms-gateway`` process (or a thread of ``mingbai serve``): holds the
outbox lease, claims due rows, paces them (token bucket under an AIMD ceiling that halves on
ESME_RTHROTTLED/ESME_RMSGQFUL), writes events to the outbox in group commits, reconnects with
backoff, and hands MOs to the intake (:mod:`.mo`). The platform hands it what it needs when it
starts (:class:`~mingbai.messaging.gateways.base.GatewayWiring`).

The state machine and the resubmission rules are in :mod:`mingbai.messaging.outbox`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import TypeVar

from mingbai.db import Ctx
from mingbai.messaging import lease, outbox
from mingbai.messaging import metrics as m
from mingbai.messaging.gateways.base import GatewayWiring
from mingbai.messaging.gateways.smpp.mo import SmppMoLane
from mingbai.messaging.gateways.smpp.pdu import Inbound, encode_submit, status_name
from mingbai.messaging.gateways.smpp.session import SessionLost, SmppError, SmppSession
from mingbai.messaging.gateways.smpp.settings import SmppConfig
from mingbai.messaging.rules import (
    AirPart,
    RateGovernor,
    TokenBucket,
    air_parts,
    backoff_delay,
    classify_status,
    parse_quiet_hours,
)

log = logging.getLogger(__name__)
R = TypeVar("R")

# -- the engine ----------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    """A claimed row while its parts are on the wire."""

    claimed: outbox.Claimed
    parts: list[AirPart]
    total: int
    open: int
    accepted: dict[int, str] = field(default_factory=dict)
    rejected: str | None = None
    doubt: bool = False
    unsent: bool = False
    retries: dict[int, int] = field(default_factory=dict)


@dataclass
class GatewayStatus:
    gateway: str
    smsc: str
    run_id: str
    bound: bool = False
    lease: bool = False
    last_error: str | None = None
    binds: int = 0
    submitted: int = 0
    receipts: int = 0
    mos: int = 0
    rate: float = 0.0
    inflight: int = 0


class SmppGateway:
    """Takes MTs from the outbox to the SMSC and brings MOs and receipts back.

    ``platform.deliver()`` only nudges it (it is a *pulling* gateway); it runs as
    ``await gateway.run()`` in its own process, or in a thread via :meth:`start_in_thread`."""

    name = "smpp"
    #: set by :meth:`run`: what the platform hands the engine, and the lane its MOs take
    _wiring: GatewayWiring
    _mo: SmppMoLane
    #: not in-process: MTs are never delivered inside the unit of work that wrote them
    inline = False

    def __init__(
        self,
        config: SmppConfig,
        *,
        run_id: str | None = None,
        lease_name: str = "smpp",
        claim_batch: int = 500,
        poll_s: float = 0.05,
        lookahead_s: float = 0.5,
        flush_s: float = 0.01,
        mo_stale_s: float = 600.0,
    ) -> None:
        self.config = config
        self.run_id = run_id or f"{socket.gethostname()[:16]}-{os.getpid()}-{random.randrange(16**4):04x}"
        self.lease_name = lease_name
        self.claim_batch = claim_batch
        self.poll_s = poll_s
        #: rows due this far ahead are claimed and held until their due time
        self.lookahead_s = lookahead_s
        self.flush_s = flush_s
        self.mo_stale_s = mo_stale_s
        self.status = GatewayStatus(self.name, config.describe(), self.run_id, rate=config.rate)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._bound: asyncio.Event | None = None
        self._session: SmppSession | None = None
        self._events: asyncio.Queue[tuple[outbox.Event, asyncio.Future[None] | None]] | None = None
        self._governor = RateGovernor(config.rate)
        self._bucket = TokenBucket(config.rate, burst=max(1.0, min(config.rate / 20, 50.0)), at=time.monotonic())
        self._rows: set[int] = set()
        self._db_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="smpp-db")
        self._mo_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smpp-mo")
        self._thread: threading.Thread | None = None
        self._quiet: tuple[dt_time, dt_time] | None = None
        self._draining = False
        self._lease_lock = threading.Lock()
        self._lease_closed = False
        self._retries: set[asyncio.Task[None]] = set()
        self._doubt_wait = timedelta(seconds=config.doubt_wait_s)
        self.on_bound: Callable[[], None] | None = None

    # -- wiring
    def nudge(self) -> None:
        """New MTs are in the outbox: look now rather than at the next poll (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _db(self, fn: Callable[[Ctx], R]) -> R:
        uow = self._wiring.uow

        def work() -> R:
            with uow() as ctx:
                return fn(ctx)

        return await asyncio.get_running_loop().run_in_executor(self._db_pool, work)

    # -- running
    async def run(self, wiring: GatewayWiring, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or :meth:`request_stop`), with what the platform hands it."""
        self._wiring = wiring
        self._quiet = parse_quiet_hours(wiring.quiet_hours)
        self._mo = SmppMoLane(wiring, self._mo_pool, stale_s=self.mo_stale_s, taken=self._mo_taken)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = stop or asyncio.Event()
        self._bound = asyncio.Event()
        self._events = asyncio.Queue()
        await self._take_lease()
        if self._stop.is_set():
            await self._release_lease()
            return
        lost = await self._db(
            lambda ctx: outbox.reconcile_lost_runs(ctx, run_id=self.run_id, doubt_wait=self._doubt_wait)
        )
        # everything alive now (modules, metadata, the engine) lives as long as the process: keep it
        # out of the collector's full passes, which otherwise stall the pacing ~80 ms every few seconds
        gc.freeze()
        if lost:
            log.warning("%s MT(s) left in flight by a previous run are in doubt until receipts settle them", lost)
            m.IN_DOUBT.labels(self.name).inc(lost)
        tasks = [
            asyncio.create_task(self._connection_loop(), name="smpp-connection"),
            asyncio.create_task(self._pump(), name="smpp-pump"),
            asyncio.create_task(self._writer(), name="smpp-writer"),
            asyncio.create_task(self._housekeeping(), name="smpp-housekeeping"),
            asyncio.create_task(self._mo.batcher(), name="smpp-mo"),
        ]
        try:
            await self._stop.wait()
        finally:
            # stop claiming, let the rows in hand go out, wait for their answers, unbind
            self._draining = True
            self.nudge()
            try:
                await asyncio.wait_for(asyncio.shield(tasks[1]), 5.0)
            except (TimeoutError, asyncio.CancelledError):
                tasks[1].cancel()
            session = self._session
            if session is not None:
                await session.unbind()
            await asyncio.sleep(0.05)  # let lost answers turn into in-doubt events
            await self._drain_events()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._release_lease()
            m.BOUND.labels(self.name).set(0)
            self.status.bound = False
            self.status.lease = False

    async def _release_lease(self) -> None:
        def release(ctx: Ctx) -> None:
            with self._lease_lock:  # a renewal racing the release must not take the lease back
                self._lease_closed = True
                lease.release_lease(ctx, name=self.lease_name, holder=self.run_id)

        try:
            await self._db(release)
        except Exception:
            log.exception("could not release the gateway lease")

    def _renew_lease(self, ctx: Ctx) -> bool:
        with self._lease_lock:
            if self._lease_closed:
                return True
            return lease.acquire_lease(
                ctx, name=self.lease_name, holder=self.run_id, ttl=timedelta(seconds=self.config.lease_ttl_s)
            )

    def request_stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)

    def start_in_thread(self, wiring: GatewayWiring) -> None:
        """Run the engine in a background thread with its own event loop (``mingbai serve``, tests)."""
        started = threading.Event()

        def main() -> None:
            async def go() -> None:
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                started.set()
                await self.run(wiring, self._stop)

            asyncio.run(go())

        self._thread = threading.Thread(target=main, name="smpp-gateway", daemon=True)
        self._thread.start()
        started.wait(5)

    def stop_thread(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._db_pool.shutdown(wait=False)
        self._mo_pool.shutdown(wait=False)

    # -- lease
    async def _take_lease(self) -> None:
        assert self._stop is not None
        waited = False
        while not self._stop.is_set():
            got = await self._db(self._renew_lease)
            if got:
                self.status.lease = True
                return
            if not waited:
                log.warning("another gateway run holds the outbox lease %r; waiting for it", self.lease_name)
                waited = True
            await self._sleep(min(1.0, self.config.lease_ttl_s / 3))

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- connection
    async def _connection_loop(self) -> None:
        assert self._stop is not None and self._bound is not None
        failures = 0
        while not self._stop.is_set():
            session = SmppSession(self.config, self._on_deliver)
            try:
                await session.open()
            except SmppError as exc:
                failures += 1
                self.status.last_error = exc.message
                m.BIND_FAILURES.labels(self.name).inc()
                delay = backoff_delay(failures, cap=self.config.reconnect_max_s, jitter=random.random())
                log.error("SMSC %s: %s; retrying in %.1f s", self.config.describe(), exc.message, delay)
                await self._sleep(delay)
                continue
            failures = 0
            self._session = session
            self._bound.set()
            self.status.bound = True
            self.status.binds += 1
            self.status.last_error = None
            m.BOUND.labels(self.name).set(1)
            m.RECONNECTS.labels(self.name).inc()
            log.info("bound to SMSC %s as transceiver", self.config.describe())
            if self.on_bound:
                self.on_bound()
            self.nudge()
            reason = await session.closed
            self._bound.clear()
            self._session = None
            self.status.bound = False
            m.BOUND.labels(self.name).set(0)
            if self._stop.is_set():
                return
            self.status.last_error = reason
            log.warning("SMSC session ended: %s; reconnecting", reason)
            await self._sleep(backoff_delay(1, cap=self.config.reconnect_max_s, jitter=random.random()))

    # -- MT: claim, pace, submit
    async def _pump(self) -> None:
        """Claim rows due within ``lookahead_s``, send each at its due time, and claim the next
        batch while one goes out: a paced campaign leaves on its slots, not a claim's round trip
        (a commit, under load tens of milliseconds) late."""
        assert self._wake is not None and self._bound is not None
        sending: asyncio.Future[None] | None = None
        ahead = timedelta(seconds=self.lookahead_s)
        while not self._draining:
            await self._bound.wait()
            # claim about a second's worth, so a row never waits long in memory
            limit = max(1, min(self.claim_batch, int(self._governor.current) + 1))
            claimed = await self._db(
                functools.partial(outbox.claim_due, run_id=self.run_id, limit=limit, quiet=self._quiet, ahead=ahead)
            )
            if sending is not None:  # batches go out one after the other, in due order
                await sending
                sending = None
            if not claimed:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                continue
            sending = asyncio.ensure_future(self._send_batch(claimed))
            if len(claimed) < limit:
                # no backlog: claim again when this batch is half out (or sooner for new MTs)
                lead = (claimed[-1].due_at - self._now()).total_seconds() - self.lookahead_s / 2
                if lead > 0:
                    self._wake.clear()
                    waker = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait({sending, waker}, timeout=lead, return_when=asyncio.FIRST_COMPLETED)
                    waker.cancel()
        if sending is not None:
            await sending

    def _now(self) -> datetime:
        return self._wiring.now()

    async def _send_batch(self, claimed: list[outbox.Claimed]) -> None:
        for c in claimed:
            early = (c.due_at - self._now()).total_seconds()
            if early > 0:
                await asyncio.sleep(early)
            await self._send_row(c)

    async def _send_row(self, c: outbox.Claimed) -> None:
        parts = air_parts(c.text, c.segmentation, c.id)
        todo = [p for p in parts if p.no not in c.accepted_parts]
        row = _Row(c, todo, len(parts), len(todo))
        if not todo:  # every part was accepted by an earlier attempt
            self._emit(outbox.RowOutcome(c.msisdn, c.id, "submitted", len(parts)))
            return
        for part in todo:
            await self._send_part(row, part)

    async def _send_part(self, row: _Row, part: AirPart) -> None:
        while True:
            wait = self._bucket.wait_for(time.monotonic())
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        session = self._session
        c = row.claimed
        if session is None:
            self._part_done(row, part, "unsent")
            return
        try:
            fut = await session.submit(lambda seq: encode_submit(self.config, c.sender, c.msisdn, part, seq))
        except SessionLost:
            self._part_done(row, part, "unsent")
            return
        m.SUBMITS.labels(self.name).inc()
        self.status.submitted += 1
        fut.add_done_callback(lambda f: self._on_answer(row, part, f))

    def _on_answer(self, row: _Row, part: AirPart, fut: asyncio.Future[tuple[int, str]]) -> None:
        exc = fut.exception()
        if exc is not None:
            self._part_done(row, part, "doubt")
            return
        status, msg_id = fut.result()
        outcome = classify_status(status)
        m.ANSWERS.labels(self.name, outcome).inc()
        now = time.monotonic()
        if outcome == "ok":
            self._bucket.rate = self._governor.accepted(now)
            self._part_done(row, part, "ok", msg_id)
        elif outcome == "throttle":
            self._bucket.rate = self._governor.throttled(now)
            m.RATE.labels(self.name).set(self._governor.current)
            self._retry(row, part, 1.0)
        elif outcome == "transient" and row.retries.get(part.no, 0) < 3:
            row.retries[part.no] = row.retries.get(part.no, 0) + 1
            self._retry(row, part, backoff_delay(row.retries[part.no]))
        else:
            self._part_done(row, part, "rejected", status_name(status))
        self.status.rate = self._governor.current
        m.RATE.labels(self.name).set(self._governor.current)

    def _retry(self, row: _Row, part: AirPart, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            await self._send_part(row, part)

        task = asyncio.ensure_future(later())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    def _part_done(self, row: _Row, part: AirPart, how: str, detail: str = "") -> None:
        c = row.claimed
        if how == "ok":
            row.accepted[part.no] = detail
            if row.total > 1:
                self._emit(outbox.PartAccepted(c.msisdn, c.id, part.no, c.attempt, detail))
        elif how == "rejected":
            row.rejected = row.rejected or detail
        elif how == "doubt":
            row.doubt = True
        else:
            row.unsent = True
        row.open -= 1
        if row.open > 0:
            return
        if row.rejected:
            self._emit(outbox.RowOutcome(c.msisdn, c.id, "rejected", row.total, error=row.rejected))
        elif row.doubt:
            m.IN_DOUBT.labels(self.name).inc()
            self._emit(outbox.RowOutcome(c.msisdn, c.id, "in_doubt", row.total, error="answer_lost"))
        elif row.unsent:
            self._emit(outbox.RowOutcome(c.msisdn, c.id, "requeue", row.total, error="session_lost", delay_s=1.0))
        else:
            first = row.accepted.get(1) or next(iter(row.accepted.values()), None)
            self._emit(outbox.RowOutcome(c.msisdn, c.id, "submitted", row.total, gateway_ref=first))

    def _emit(self, event: outbox.Event, ack: asyncio.Future[None] | None = None) -> None:
        assert self._events is not None
        self._events.put_nowait((event, ack))

    # -- writing events in group commits
    async def _writer(self) -> None:
        assert self._events is not None
        while True:
            first = await self._events.get()
            await asyncio.sleep(self.flush_s)
            batch = [first]
            while not self._events.empty() and len(batch) < 5000:
                batch.append(self._events.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[tuple[outbox.Event, asyncio.Future[None] | None]]) -> None:
        events = [e for e, _ in batch]
        while True:
            try:
                report = await self._db(lambda ctx: outbox.apply_events(ctx, events, doubt_wait=self._doubt_wait))
                break
            except Exception:
                log.exception("could not record %s gateway event(s); retrying", len(events))
                await asyncio.sleep(1.0)
        for state, n in report.finals.items():
            m.RECEIPTS.labels(self.name, state).inc(n)
        self.status.receipts += report.receipts
        for _, ack in batch:
            if ack is not None and not ack.done():
                ack.set_result(None)

    async def _drain_events(self) -> None:
        if self._events is None:
            return
        batch = []
        while not self._events.empty():
            batch.append(self._events.get_nowait())
        if batch:
            await self._write(batch)

    # -- MO and receipts
    async def _on_deliver(self, inbound: Inbound) -> int:
        if inbound.receipt is not None:
            smsc_id, stat, err = inbound.receipt
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._emit(outbox.Receipt(smsc_id, inbound.source, stat, err), ack)
            await ack  # acknowledged only once committed
            return 0
        status = await self._mo.take(inbound)  # acknowledged only once handled and committed
        self.nudge()
        return status

    def _mo_taken(self) -> None:
        m.MOS.labels(self.name).inc()
        self.status.mos += 1

    # -- housekeeping: the lease, doubts whose wait is over, concatenated MOs that never completed
    async def _housekeeping(self) -> None:
        assert self._stop is not None
        every = max(0.2, min(1.0, self.config.lease_ttl_s / 3))
        last_mo = 0.0
        while not self._stop.is_set():
            await self._sleep(every)
            try:
                held = await self._db(self._renew_lease)
                if not held:
                    log.error("lost the outbox lease to another run; stopping")
                    self.status.lease = False
                    self.request_stop()
                    return
                again = await self._db(outbox.release_doubts)
                if again:
                    m.RESUBMITTED.labels(self.name).inc(again)
                    log.warning(
                        "%s in-doubt MT(s) got no receipt in %s; submitting them again", again, self._doubt_wait
                    )
                    self.nudge()
                if time.monotonic() - last_mo > 30:
                    last_mo = time.monotonic()
                    await self._mo.flush_stale()
                self.status.inflight = self._session.inflight if self._session else 0
                m.INFLIGHT.labels(self.name).set(self.status.inflight)
            except Exception:
                log.exception("gateway housekeeping failed; will retry")
