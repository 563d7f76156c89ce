"""The real SMS path: Mingbai as an ESME bound to the operator's SMSC as a transceiver (SMPP 3.4).

Pieces, from the wire up:

* :class:`SmppSession` — one TCP connection, bound as transceiver. It owns sequence numbers, a
  bounded window of submit_sm awaiting their answers, enquire_link keep-alive, and answers the
  SMSC's requests. A deliver_sm is acknowledged only after the application says it is safe (the
  receipt committed, the MO recorded). PDUs are encoded and decoded with aiosmpplib's protocol
  classes; the session loop is our own because aiosmpplib's ESME acknowledges a deliver_sm before
  the application has stored it and keeps receipt correlation in memory, and both would break
  the outbox's promise across a crash.
* :class:`SmppGateway` — the engine of a ``mingbai sms-gateway`` process (or a thread of
  ``mingbai serve``): holds the outbox lease, claims due rows, paces them (token bucket under an
  AIMD ceiling that halves on ESME_RTHROTTLED/ESME_RMSGQFUL), writes events to the outbox in
  group commits, reconnects with backoff, and hands MOs (reassembled from UDH parts) to
  ``platform.receive_sms``.

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
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any, TypeVar

from aiosmpplib.protocol import BindTransceiver, DeliverSm, EnquireLink, SubmitSm, Unbind
from aiosmpplib.state import NPI, TON, PduHeader, PhoneNumber, SmppCommand, SmppCommandStatus

from mingbai.db import Ctx
from mingbai.errors import MingbaiError
from mingbai.messaging import metrics as m
from mingbai.messaging import outbox
from mingbai.messaging.rules import (
    ESM_CLASS_UDHI,
    MESSAGE_STATE_STAT,
    AirPart,
    RateGovernor,
    TokenBucket,
    air_parts,
    backoff_delay,
    bind_error_text,
    classify_status,
    parse_quiet_hours,
)
from mingbai.msisdn import mask_msisdn

if TYPE_CHECKING:
    from mingbai.platform import Platform

log = logging.getLogger(__name__)
R = TypeVar("R")

# command ids (SMPP 3.4 §5.1.2.1)
GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
ESME_RX_P_APPN = 0x65
ESME_RSYSERR = 0x08
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427
MAX_PDU = 70_000


def status_name(code: int) -> str:
    try:
        return str(SmppCommandStatus(code).name)
    except ValueError:
        return f"0x{code:08X}"


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmppConfig:
    """How to reach the SMSC; ``from_env`` reads ``MINGBAI_SMSC_*`` (docs/SMS.md)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = "10086"
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 1
    #: submit_sm PDUs per second (every part counts); throttling lowers it for a while
    rate: float = 100.0
    #: submit_sm awaiting their answer at most
    window: int = 50
    enquire_link_s: float = 30.0
    response_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    reconnect_max_s: float = 60.0
    #: how long an in-doubt MT waits for a receipt before it is submitted again
    doubt_wait_s: float = 600.0
    lease_ttl_s: float = 15.0

    def __post_init__(self) -> None:
        problems = []
        if not self.host:
            problems.append("host is empty")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not a TCP port")
        if not self.system_id or len(self.system_id) > 15:
            problems.append("system_id must be 1–15 characters (SMPP 3.4 §5.2.1)")
        if len(self.password) > 8:
            problems.append("password may be at most 8 characters (SMPP 3.4 §5.2.2)")
        if len(self.system_type) > 12:
            problems.append("system_type may be at most 12 characters")
        if not self.source_addr or len(self.source_addr) > 20:
            problems.append("source address must be 1–20 characters")
        if self.rate <= 0:
            problems.append("rate must be a positive number of messages per second")
        if not 1 <= self.window <= 10_000:
            problems.append("window must be 1–10000")
        if problems:
            raise ValueError("SMSC configuration: " + "; ".join(problems))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SmppConfig | None:
        """None when no SMSC is configured (``MINGBAI_SMSC_HOST`` unset): the loopback stays."""
        e = dict(os.environ if env is None else env)
        host = e.get("MINGBAI_SMSC_HOST", "").strip()
        if not host:
            return None

        def num(name: str, default: float) -> float:
            raw = e.get(name, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None

        return cls(
            host=host,
            port=int(num("MINGBAI_SMSC_PORT", 2775)),
            system_id=e.get("MINGBAI_SMSC_SYSTEM_ID", ""),
            password=e.get("MINGBAI_SMSC_PASSWORD", ""),
            system_type=e.get("MINGBAI_SMSC_SYSTEM_TYPE", ""),
            source_addr=e.get("MINGBAI_SMSC_SOURCE_ADDR", "10086"),
            rate=num("MINGBAI_SMSC_RATE", 100.0),
            window=int(num("MINGBAI_SMSC_WINDOW", 50)),
            enquire_link_s=num("MINGBAI_SMSC_ENQUIRE_LINK_S", 30.0),
            doubt_wait_s=num("MINGBAI_SMSC_DOUBT_WAIT_S", 600.0),
            lease_ttl_s=num("MINGBAI_SMSC_LEASE_TTL_S", 15.0),
        )

    def describe(self) -> str:
        return (
            f"{self.system_id}@{self.host}:{self.port} "
            f"(source {self.source_addr}, {self.rate:g} msg/s, window {self.window})"
        )


# -- errors ---------------------------------------------------------------------------------------------


class SmppError(MingbaiError):
    status_code = 502
    code = "smsc_error"


class BindRefused(SmppError):
    """The SMSC answered the bind with an error: the text says what to fix."""

    code = "smsc_bind_refused"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SessionLost(Exception):
    """The connection ended; what was written may or may not have reached the SMSC."""


# -- inbound -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """A decoded deliver_sm: a receipt (``receipt`` set) or an MO (``text``, maybe a part)."""

    source: str
    destination: str
    text: str
    receipt: tuple[str, str, str | None] | None = None  # (smsc id, stat, err)
    concat: tuple[int, int, int] | None = None  # (ref, total, seq)


def decode_deliver(pdu: bytes, seq: int) -> Inbound:
    """Decode a deliver_sm with aiosmpplib (UDH → parts, codings, receipt text) plus TLV receipts."""
    header = PduHeader(
        pdu_length=len(pdu),
        smpp_command=SmppCommand.DELIVER_SM,
        command_status=SmppCommandStatus.ESME_ROK,
        sequence_num=seq,
    )
    msg = DeliverSm.from_pdu(pdu, header, "gsm0338")
    text: str = msg.short_message or msg.message_payload
    source: str = msg.source.number
    destination: str = msg.destination.number
    if msg.is_receipt():
        fields = msg.parse_receipt()
        tlvs = {p.tag: p.value for p in (msg.optional_params or [])}
        smsc_id = str(fields.get("id") or tlvs.get(TAG_RECEIPTED_MESSAGE_ID) or "").strip()
        stat = str(fields.get("stat") or "")
        if not stat and TAG_MESSAGE_STATE in tlvs:
            stat = MESSAGE_STATE_STAT.get(int(tlvs[TAG_MESSAGE_STATE]), "UNKNOWN")
        err = fields.get("err")
        if not smsc_id:
            raise ValueError("delivery receipt without a message id")
        return Inbound(source, destination, text, receipt=(smsc_id, stat, None if err is None else f"{err}"))
    concat = None
    if msg.is_segmented():
        ref, seq_no, total = msg.get_segmentation_data()
        if total > 1:
            concat = (int(ref), int(total), int(seq_no))
    return Inbound(source, destination, text, concat=concat)


# -- the session ------------------------------------------------------------------------------------------------

DeliverHandler = Callable[[Inbound], Awaitable[int]]


class SmppSession:
    """One bound transceiver connection. Use :meth:`open`, then :meth:`submit`; :attr:`closed`
    completes when the connection ends (with the reason)."""

    def __init__(self, config: SmppConfig, on_deliver: DeliverHandler) -> None:
        self.config = config
        self._on_deliver = on_deliver
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._seq = 0
        self._pending: dict[int, tuple[asyncio.Future[tuple[int, str]], float]] = {}
        self._window = asyncio.Semaphore(config.window)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_read = time.monotonic()
        self._link_waiter: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    # -- lifecycle
    async def open(self) -> None:
        c = self.config
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(c.host, c.port, limit=MAX_PDU), c.connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise SmppError(f"cannot reach the SMSC at {c.host}:{c.port}: {exc or 'timed out'}") from exc
        self._reader, self._writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bind = BindTransceiver(
            system_id=c.system_id,
            password=c.password,
            system_type=c.system_type,
            addr_ton=TON.UNKNOWN,
            addr_npi=NPI.UNKNOWN,
        )
        bind.sequence_num = self._next_seq()
        writer.write(bind.pdu())
        try:
            cmd, status, _, body = await asyncio.wait_for(self._read_pdu(), c.response_timeout_s)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            writer.close()
            raise SmppError(
                f"the SMSC at {c.host}:{c.port} closed or did not answer the bind ({type(exc).__name__}); "
                "is it an SMPP port?"
            ) from exc
        if cmd == GENERIC_NACK:
            writer.close()
            raise BindRefused(status, f"the SMSC did not understand the bind (generic_nack {status_name(status)})")
        if cmd != BIND_TRANSCEIVER_RESP:
            writer.close()
            raise SmppError(f"the SMSC answered the bind with command 0x{cmd:08X}, not bind_transceiver_resp")
        if status != 0:
            writer.close()
            raise BindRefused(status, bind_error_text(status, system_id=c.system_id, system_type=c.system_type))
        self.smsc_system_id = body.split(b"\0", 1)[0].decode("ascii", "replace")
        self._spawn(self._read_loop(), "reader")
        self._spawn(self._keepalive(), "keepalive")

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close(self, reason: str) -> None:
        if self.closed.done():
            return
        self.closed.set_result(reason)
        if self._writer is not None:
            self._writer.close()
        lost = SessionLost(reason)
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(lost)
        self._pending.clear()
        if self._link_waiter and not self._link_waiter.done():
            self._link_waiter.set_exception(lost)
        for t in list(self._tasks):
            if t is not asyncio.current_task():
                t.cancel()

    async def unbind(self, timeout: float = 2.0) -> None:
        """Say goodbye properly (answers still in flight are given a moment first)."""
        if self.closed.done() or self._writer is None:
            return
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        msg = Unbind()
        msg.sequence_num = self._next_seq()
        waiter: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._pending[msg.sequence_num] = (waiter, time.monotonic())
        try:
            self._writer.write(msg.pdu())
            await asyncio.wait_for(asyncio.shield(waiter), max(0.1, deadline - time.monotonic()))
        except (Exception, asyncio.CancelledError):
            pass
        self._close("unbound")

    # -- sending
    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    @property
    def inflight(self) -> int:
        return len(self._pending)

    async def submit(self, encode: Callable[[int], bytes]) -> asyncio.Future[tuple[int, str]]:
        """Write one submit_sm (``encode(seq)`` builds it) once the window has room.

        Returns a future of (command_status, message_id). It fails with SessionLost if the
        connection ends first. Raises SessionLost *before* writing if the session is gone, so the
        caller knows that PDU never left."""
        await self._window.acquire()
        if self.closed.done() or self._writer is None:
            self._window.release()
            raise SessionLost(self.closed.result() if self.closed.done() else "not open")
        seq = self._next_seq()
        fut: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda _: self._window.release())
        self._pending[seq] = (fut, time.monotonic())
        self._writer.write(encode(seq))
        if self._writer.transport.get_write_buffer_size() > 256_000:
            try:
                await self._writer.drain()
            except OSError as exc:
                self._close(f"write failed: {exc}")
        return fut

    def _answer(self, cmd: int, seq: int, status: int = 0, body: bytes = b"") -> None:
        if self._writer is None or self.closed.done():
            return
        self._writer.write(struct.pack("!IIII", 16 + len(body), cmd, status, seq) + body)

    # -- receiving
    async def _read_pdu(self) -> tuple[int, int, int, bytes]:
        assert self._reader is not None
        head = await self._reader.readexactly(16)
        length, cmd, status, seq = struct.unpack("!IIII", head)
        if not 16 <= length <= MAX_PDU:
            raise ValueError(f"PDU length {length} out of range")
        body = await self._reader.readexactly(length - 16) if length > 16 else b""
        self._last_read = time.monotonic()
        return cmd, status, seq, head + body if cmd == DELIVER_SM else body

    async def _read_loop(self) -> None:
        reason = "connection closed by the SMSC"
        try:
            while True:
                cmd, status, seq, body = await self._read_pdu()
                if cmd in (SUBMIT_SM_RESP, GENERIC_NACK, UNBIND_RESP):
                    entry = self._pending.pop(seq, None)
                    if entry is not None and not entry[0].done():
                        msg_id = body.split(b"\0", 1)[0].decode("ascii", "replace") if cmd == SUBMIT_SM_RESP else ""
                        entry[0].set_result((status if cmd != GENERIC_NACK or status else ESME_RSYSERR, msg_id))
                elif cmd == DELIVER_SM:
                    self._spawn(self._deliver(seq, body), "deliver")
                elif cmd == ENQUIRE_LINK:
                    self._answer(ENQUIRE_LINK_RESP, seq)
                elif cmd == ENQUIRE_LINK_RESP:
                    if self._link_waiter and not self._link_waiter.done():
                        self._link_waiter.set_result(None)
                elif cmd == UNBIND:
                    self._answer(UNBIND_RESP, seq)
                    reason = "the SMSC unbound"
                    break
                elif cmd & 0x80000000:
                    pass  # an answer we did not ask for: ignore
                else:
                    self._answer(GENERIC_NACK, seq, 0x03)  # ESME_RINVCMDID
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            reason = f"connection lost: {type(exc).__name__}"
        except ValueError as exc:
            reason = f"garbled PDU from the SMSC: {exc}"
        except asyncio.CancelledError:
            reason = "closed"
        self._close(reason)

    async def _deliver(self, seq: int, pdu: bytes) -> None:
        try:
            inbound = decode_deliver(pdu, seq)
        except Exception as exc:  # undecodable: refuse it for good rather than loop on it
            log.warning("undecodable deliver_sm seq %s: %s", seq, exc)
            self._answer(DELIVER_SM_RESP, seq, ESME_RX_P_APPN, b"\0")
            return
        try:
            status = await self._on_deliver(inbound)
        except SessionLost:
            return
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("deliver_sm handler failed; not acknowledged, the SMSC will retry")
            return
        self._answer(DELIVER_SM_RESP, seq, status, b"\0")

    async def _keepalive(self) -> None:
        c = self.config
        try:
            while not self.closed.done():
                await asyncio.sleep(min(1.0, c.enquire_link_s))
                now = time.monotonic()
                # an answer overdue means the SMSC or the path is stuck: start over
                oldest = min((t for _, t in self._pending.values()), default=now)
                if now - oldest > c.response_timeout_s:
                    self._close(f"no answer to a submit_sm within {c.response_timeout_s:g} s")
                    return
                if now - self._last_read < c.enquire_link_s:
                    continue
                msg = EnquireLink()
                msg.sequence_num = self._next_seq()
                self._link_waiter = asyncio.get_running_loop().create_future()
                assert self._writer is not None
                self._writer.write(msg.pdu())
                try:
                    await asyncio.wait_for(asyncio.shield(self._link_waiter), c.response_timeout_s)
                except TimeoutError:
                    self._close(f"no answer to enquire_link within {c.response_timeout_s:g} s")
                    return
        except (SessionLost, asyncio.CancelledError):
            return


def encode_submit(config: SmppConfig, sender: str, recipient: str, part: AirPart, seq: int) -> bytes:
    msg = SubmitSm(
        short_message=part.text or " ",
        source=PhoneNumber(sender or config.source_addr, TON(config.source_ton), NPI(config.source_npi)),
        destination=PhoneNumber(recipient, TON(config.dest_ton), NPI(config.dest_npi)),
        esm_class=ESM_CLASS_UDHI if part.udh else 0,
        registered_delivery=1,
        encoding="ucs2",
    )
    msg.set_encoded_message(part.payload)
    msg.sequence_num = seq
    pdu: bytes = msg.pdu()
    return pdu


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
        self._platform: Platform | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._bound: asyncio.Event | None = None
        self._session: SmppSession | None = None
        self._events: asyncio.Queue[tuple[outbox.Event, asyncio.Future[None] | None]] | None = None
        #: single-part MOs waiting for the batcher, each with the deliver_sm status it will get
        self._mos: asyncio.Queue[tuple[Inbound, asyncio.Future[int]]] | None = None
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
    def attach(self, platform: Platform) -> None:
        self._platform = platform
        self._quiet = parse_quiet_hours(platform.settings.quiet_hours)

    def nudge(self) -> None:
        """New MTs are in the outbox: look now rather than at the next poll (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _db(self, fn: Callable[[Ctx], R]) -> R:
        platform = self._platform
        assert platform is not None, "attach(platform) first"

        def work() -> R:
            with platform.uow() as ctx:
                return fn(ctx)

        return await asyncio.get_running_loop().run_in_executor(self._db_pool, work)

    # -- running
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or :meth:`request_stop`)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = stop or asyncio.Event()
        self._bound = asyncio.Event()
        self._events = asyncio.Queue()
        self._mos = asyncio.Queue()
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
            asyncio.create_task(self._mo_batcher(), name="smpp-mo"),
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
                outbox.release_lease(ctx, name=self.lease_name, holder=self.run_id)

        try:
            await self._db(release)
        except Exception:
            log.exception("could not release the gateway lease")

    def _renew_lease(self, ctx: Ctx) -> bool:
        with self._lease_lock:
            if self._lease_closed:
                return True
            return outbox.acquire_lease(
                ctx, name=self.lease_name, holder=self.run_id, ttl=timedelta(seconds=self.config.lease_ttl_s)
            )

    def request_stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)

    def start_in_thread(self, platform: Platform) -> None:
        """Run the engine in a background thread with its own event loop (``mingbai serve``, tests)."""
        self.attach(platform)
        started = threading.Event()

        def main() -> None:
            async def go() -> None:
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                started.set()
                await self.run(self._stop)

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
        assert self._platform is not None
        return self._platform.clock.now()

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
        loop = asyncio.get_running_loop()
        if inbound.concat is None and self._mos is not None:
            answered: asyncio.Future[int] = loop.create_future()
            self._mos.put_nowait((inbound, answered))
            status = await answered  # acknowledged only once handled and committed
        else:
            status = await loop.run_in_executor(self._mo_pool, self._handle_mo, inbound)
        self.nudge()
        return status

    async def _mo_batcher(self) -> None:
        """Hands single-part MOs to the platform in batches: whatever arrived while the previous
        batch was being handled (so no wait at all when traffic is light, and one unit of work
        for hundreds of MOs when it is heavy). A batch that cannot be stored is not
        acknowledged: the SMSC delivers its MOs again."""
        assert self._mos is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._mos.get()]
            while not self._mos.empty() and len(batch) < 500:
                batch.append(self._mos.get_nowait())
            try:
                statuses = await loop.run_in_executor(self._mo_pool, self._handle_mos, [mo for mo, _ in batch])
            except Exception as exc:
                for _, answered in batch:
                    if not answered.done():
                        answered.set_exception(exc)
                continue
            for (_, answered), status in zip(batch, statuses, strict=True):
                if not answered.done():
                    answered.set_result(status)

    def _handle_mos(self, mos: list[Inbound]) -> list[int]:
        platform = self._platform
        assert platform is not None
        statuses = []
        for mo, result in zip(
            mos, platform.receive_many([(i.source, i.destination, i.text) for i in mos]), strict=True
        ):
            if isinstance(result, MingbaiError):
                log.warning("MO from %s to %s refused: %s", mask_msisdn(mo.source), mo.destination, result.message)
                statuses.append(ESME_RX_P_APPN)
                continue
            m.MOS.labels(self.name).inc()
            self.status.mos += 1
            statuses.append(0)
        return statuses

    def _handle_mo(self, mo: Inbound, stale: outbox.StaleMo | None = None) -> int:
        platform = self._platform
        assert platform is not None
        try:
            if stale is not None:
                platform.receive_sms(
                    stale.msisdn,
                    stale.recipient,
                    stale.text,
                    within=lambda ctx: outbox.drop_mo_parts(
                        ctx, msisdn=stale.msisdn, recipient=stale.recipient, ref=stale.ref, total=stale.total
                    ),
                )
            elif mo.concat is not None:
                ref, total, seq = mo.concat
                with platform.uow() as ctx:
                    texts = outbox.store_mo_part(
                        ctx, msisdn=mo.source, recipient=mo.destination, ref=ref, total=total, seq=seq, text=mo.text
                    )
                if texts is None:
                    return 0
                platform.receive_sms(
                    mo.source,
                    mo.destination,
                    "".join(texts),
                    within=lambda ctx: outbox.drop_mo_parts(
                        ctx, msisdn=mo.source, recipient=mo.destination, ref=ref, total=total
                    ),
                )
            else:
                platform.receive_sms(mo.source, mo.destination, mo.text)
        except MingbaiError as exc:
            log.warning("MO from %s to %s refused: %s", mask_msisdn(mo.source), mo.destination, exc.message)
            return ESME_RX_P_APPN
        m.MOS.labels(self.name).inc()
        self.status.mos += 1
        return 0

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
                    await self._flush_stale_mos()
                self.status.inflight = self._session.inflight if self._session else 0
                m.INFLIGHT.labels(self.name).set(self.status.inflight)
            except Exception:
                log.exception("gateway housekeeping failed; will retry")

    async def _flush_stale_mos(self) -> None:
        stale = await self._db(lambda ctx: outbox.stale_mo_parts(ctx, older_than=timedelta(seconds=self.mo_stale_s)))
        for s in stale:
            log.warning("concatenated MO from %s missed parts; handling what arrived", mask_msisdn(s.msisdn))
            await asyncio.get_running_loop().run_in_executor(
                self._mo_pool, self._handle_mo, Inbound(s.msisdn, s.recipient, s.text), s
            )


async def check_bind(config: SmppConfig) -> str:
    """Bind once and unbind: returns the SMSC's system id, or raises a clear SmppError."""

    async def refuse(_: Inbound) -> int:
        return 0x58  # ESME_RTHROTTLED: not now, the real gateway will take it

    session = SmppSession(config, refuse)
    await session.open()
    await session.unbind()
    return session.smsc_system_id
