"""One TCP connection to the SMSC, bound as transceiver (:class:`SmppSession`).

It owns sequence numbers, a bounded window of submit_sm awaiting their answers, enquire_link
keep-alive, and answers the SMSC's requests. A deliver_sm is acknowledged only after the
application says it is safe (the receipt committed, the MO recorded). PDUs are encoded and
decoded with aiosmpplib's protocol classes; the session loop is our own because aiosmpplib's
ESME acknowledges a deliver_sm before the application has stored it and keeps receipt
correlation in memory, and both would break the outbox's promise across a crash.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmpplib.protocol import BindTransceiver, EnquireLink, Unbind
from aiosmpplib.state import NPI, TON

from mingbai.errors import MingbaiError
from mingbai.messaging.gateways.smpp.pdu import (
    BIND_TRANSCEIVER_RESP,
    DELIVER_SM,
    DELIVER_SM_RESP,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_RSYSERR,
    ESME_RX_P_APPN,
    GENERIC_NACK,
    MAX_PDU,
    SUBMIT_SM_RESP,
    UNBIND,
    UNBIND_RESP,
    Inbound,
    decode_deliver,
    status_name,
)
from mingbai.messaging.gateways.smpp.settings import SmppConfig
from mingbai.messaging.rules import bind_error_text

log = logging.getLogger(__name__)

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


async def check_bind(config: SmppConfig) -> str:
    """Bind once and unbind: returns the SMSC's system id, or raises a clear SmppError."""

    async def refuse(_: Inbound) -> int:
        return 0x58  # ESME_RTHROTTLED: not now, the real gateway will take it

    session = SmppSession(config, refuse)
    await session.open()
    await session.unbind()
    return session.smsc_system_id
