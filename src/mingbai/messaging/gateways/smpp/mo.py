"""MOs from the SMSC to the platform's intake (:class:`~mingbai.messaging.inbound.MoIntake`).

A deliver_sm that carries an MO is acknowledged only once the MO is handled and committed,
with the status this module returns (0, or ESME_RX_P_APPN for an MO refused for good, a
malformed sender say). Single-part MOs go in batches (:meth:`SmppMoLane.batcher`); parts of a
concatenated MO are kept (:mod:`mingbai.messaging.mo_parts`) until the last one arrives, and the
whole is handled in the unit of work that drops them, so it is neither lost nor handled twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from datetime import timedelta

from mingbai.errors import MingbaiError
from mingbai.messaging import mo_parts
from mingbai.messaging.gateways.base import GatewayWiring
from mingbai.messaging.gateways.smpp.pdu import ESME_RX_P_APPN, Inbound
from mingbai.msisdn import mask_msisdn

log = logging.getLogger(__name__)


class SmppMoLane:
    """Hands the MOs of one gateway run to the intake, on its own worker thread (``pool``);
    ``taken`` counts each MO the intake took."""

    def __init__(
        self,
        wiring: GatewayWiring,
        pool: concurrent.futures.Executor,
        *,
        stale_s: float,
        taken: Callable[[], None],
    ) -> None:
        self._wiring = wiring
        self._pool = pool
        self._stale = timedelta(seconds=stale_s)
        self._taken = taken
        #: single-part MOs waiting for the batcher, each with the deliver_sm status it will get
        self._queue: asyncio.Queue[tuple[Inbound, asyncio.Future[int]]] = asyncio.Queue()

    async def take(self, inbound: Inbound) -> int:
        """The deliver_sm status for an MO, once it is handled and committed."""
        loop = asyncio.get_running_loop()
        if inbound.concat is None:
            answered: asyncio.Future[int] = loop.create_future()
            self._queue.put_nowait((inbound, answered))
            return await answered
        return await loop.run_in_executor(self._pool, self._handle_part, inbound, inbound.concat)

    async def batcher(self) -> None:
        """Hands single-part MOs to the intake in batches: whatever arrived while the previous
        batch was being handled (so no wait at all when traffic is light, and one unit of work
        for hundreds of MOs when it is heavy). A batch that cannot be stored is not
        acknowledged: the SMSC delivers its MOs again."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            try:
                statuses = await loop.run_in_executor(self._pool, self._handle_many, [mo for mo, _ in batch])
            except Exception as exc:
                for _, answered in batch:
                    if not answered.done():
                        answered.set_exception(exc)
                continue
            for (_, answered), status in zip(batch, statuses, strict=True):
                if not answered.done():
                    answered.set_result(status)

    async def flush_stale(self) -> None:
        """Concatenated MOs whose missing parts never came: handle what arrived."""
        loop = asyncio.get_running_loop()
        stale = await loop.run_in_executor(self._pool, self._stale_parts)
        for s in stale:
            log.warning("concatenated MO from %s missed parts; handling what arrived", mask_msisdn(s.msisdn))
            await loop.run_in_executor(self._pool, self._handle_stale, s)

    def _stale_parts(self) -> list[mo_parts.StaleMo]:
        with self._wiring.uow() as ctx:
            return mo_parts.stale_mo_parts(ctx, older_than=self._stale)

    def _handle_many(self, mos: list[Inbound]) -> list[int]:
        statuses = []
        results = self._wiring.intake.receive_many([(i.source, i.destination, i.text) for i in mos])
        for mo, result in zip(mos, results, strict=True):
            if isinstance(result, MingbaiError):
                log.warning("MO from %s to %s refused: %s", mask_msisdn(mo.source), mo.destination, result.message)
                statuses.append(ESME_RX_P_APPN)
                continue
            self._taken()
            statuses.append(0)
        return statuses

    def _handle_part(self, mo: Inbound, concat: tuple[int, int, int]) -> int:
        """One part of a concatenated MO: kept; the last one completes and hands the whole."""
        ref, total, seq = concat
        with self._wiring.uow() as ctx:
            texts = mo_parts.store_mo_part(
                ctx, msisdn=mo.source, recipient=mo.destination, ref=ref, total=total, seq=seq, text=mo.text
            )
        if texts is None:
            return 0
        return self._handle_whole(mo.source, mo.destination, "".join(texts), ref, total)

    def _handle_stale(self, stale: mo_parts.StaleMo) -> int:
        return self._handle_whole(stale.msisdn, stale.recipient, stale.text, stale.ref, stale.total)

    def _handle_whole(self, msisdn: str, recipient: str, text: str, ref: int, total: int) -> int:
        """A concatenated MO to the intake; its parts are dropped in the same unit of work."""
        try:
            self._wiring.intake.receive(
                msisdn,
                recipient,
                text,
                within=lambda ctx: mo_parts.drop_mo_parts(
                    ctx, msisdn=msisdn, recipient=recipient, ref=ref, total=total
                ),
            )
        except MingbaiError as exc:
            log.warning("MO from %s to %s refused: %s", mask_msisdn(msisdn), recipient, exc.message)
            return ESME_RX_P_APPN
        self._taken()
        return 0
