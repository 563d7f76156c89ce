"""``mingbai sms-gateway``: the SMPP engine as its own process."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from mingbai.cli.common import console, err_console, friendly_errors, opts


def sms_gateway(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="Bind once, report, unbind and exit (1 on failure).")] = False,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve this process's Prometheus metrics on 127.0.0.1:PORT.")
    ] = None,
) -> None:
    """Bind to the SMSC (MINGBAI_SMSC_* settings) and move SMS until stopped (Ctrl-C / SIGTERM).

    MTs come from the outbox, MOs go to the same handlers as the embedded gateway, receipts
    settle the outbox rows. Safe to kill at any moment: see docs/SMS.md."""
    from mingbai.messaging.gateways.smpp import SmppConfig, SmppError, SmppGateway, check_bind
    from mingbai.platform import Platform

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with friendly_errors():
        config = SmppConfig.from_env()
        if config is None:
            raise ValueError("no SMSC configured: set MINGBAI_SMSC_HOST, MINGBAI_SMSC_SYSTEM_ID, MINGBAI_SMSC_PASSWORD")
    if check:
        try:
            smsc = asyncio.run(check_bind(config))
        except SmppError as exc:
            err_console.print(f"[red]bind failed[/red]: {exc.message}")
            raise typer.Exit(1) from None
        console.print(f"bound to {config.describe()}; the SMSC calls itself {smsc!r}")
        return
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    o = opts(ctx)
    gateway = SmppGateway(config)
    platform = Platform(o.settings(), clock=o.clock(), gateway=gateway)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await gateway.run(platform.wiring(), stop)

    console.print(f"SMS gateway run {gateway.run_id}: {config.describe()}")
    asyncio.run(main())
