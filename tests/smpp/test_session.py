"""The SMPP session against hand-written peers: clear bind errors, the window of requests in flight."""

from __future__ import annotations

import asyncio
import struct

import pytest

from mingbai.messaging.gateways.smpp import BindRefused, SmppConfig, SmppError, SmppSession, check_bind
from tests.smpp.smsc import free_port


def cfg(port: int, **kw: object) -> SmppConfig:
    return SmppConfig(host="127.0.0.1", port=port, system_id="mingbai", password="secret", **kw)  # type: ignore[arg-type]


async def _peer(bind_status: int, answer_submits: bool, seen: list[int]) -> tuple[asyncio.AbstractServer, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                length, cmd, _, seq = struct.unpack("!IIII", await r.readexactly(16))
                await r.readexactly(length - 16)
                if cmd == 0x09:
                    w.write(struct.pack("!IIII", 16 + 5, 0x80000009, bind_status, seq) + b"TEST\0")
                elif cmd == 0x04:
                    seen.append(seq)
                    if answer_submits:
                        w.write(struct.pack("!IIII", 19, 0x80000004, 0, seq) + b"m1\0")
                elif cmd == 0x06:
                    w.write(struct.pack("!IIII", 16, 0x80000006, 0, seq))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    return server, port


@pytest.mark.parametrize(
    ("status", "words"),
    [(0x0E, "wrong password for system_id mingbai"), (0x0F, "unknown system_id mingbai"), (0x0D, "refused the bind")],
)
def test_bind_errors_are_sentences(status: int, words: str) -> None:
    async def go() -> None:
        server, port = await _peer(status, True, [])
        with pytest.raises(BindRefused) as err:
            await check_bind(cfg(port))
        assert words in err.value.message
        server.close()

    asyncio.run(go())


def test_unreachable_smsc_is_a_clear_error() -> None:
    async def go() -> None:
        with pytest.raises(SmppError, match=r"cannot reach the SMSC at 127\.0\.0\.1"):
            await check_bind(cfg(free_port(), connect_timeout_s=2.0))

    asyncio.run(go())


def test_config_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="password may be at most 8 characters"):
        SmppConfig(host="h", port=2775, system_id="mingbai", password="much-too-long")
    with pytest.raises(ValueError, match="system_id must be 1–15"):
        SmppConfig(host="h", port=2775, system_id="", password="")


def test_window_caps_requests_in_flight() -> None:
    async def go() -> None:
        seen: list[int] = []
        server, port = await _peer(0, False, seen)  # never answers a submit

        async def nothing(_: object) -> int:
            return 0

        session = SmppSession(cfg(port, window=3, response_timeout_s=2.0), nothing)  # type: ignore[arg-type]
        await session.open()
        futures = [await session.submit(lambda seq: struct.pack("!IIII", 16, 4, 0, seq)) for _ in range(3)]
        blocked = asyncio.ensure_future(session.submit(lambda seq: struct.pack("!IIII", 16, 4, 0, seq)))
        await asyncio.sleep(0.3)
        assert len(seen) == 3 and not blocked.done() and session.inflight == 3
        # no answer within the response timeout: the session gives up and every request is in doubt
        reason = await asyncio.wait_for(session.closed, 5)
        assert "no answer" in reason
        assert all(f.done() and f.exception() is not None for f in futures)
        blocked.cancel()
        server.close()

    asyncio.run(go())
