"""``mingbai campaign``: plan, start, pause, run (with a progress bar) and watch reminder campaigns."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mingbai.cli.audit import cli_actor
from mingbai.cli.common import IdArg, console, friendly_errors, opts, print_json, print_table
from mingbai.clock import local_text, parse_instant

campaign_app = typer.Typer(help="Stock-wide reminder campaigns (R4, seed 004 batches).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@campaign_app.command("plan")
def plan(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name")],
    starts: Annotated[str, typer.Option("--from", help="Window start, ISO-8601 (Shanghai if no offset).")],
    ends: Annotated[str, typer.Option("--to", help="Window end.")],
    rate: Annotated[
        float | None, typer.Option("--rate", help="SMS per second (default: spread over the window).")
    ] = None,
    quiet: Annotated[
        str | None, typer.Option("--quiet", help="Quiet hours, e.g. 21:00-08:00 (default setting).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Plan the campaign: every active subscription, in seed 004's batches."""
    from mingbai.campaigns.rules import batch_table
    from mingbai.campaigns.service import plan_campaign

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        p = plan_campaign(
            uow,
            name=name,
            starts_at=parse_instant(starts),
            ends_at=parse_instant(ends),
            rate_per_s=rate,
            quiet_hours=quiet,
            actor=f"cli:{os.environ.get('USER', 'operator')}",
        )
    if json_out:
        print_json(p)
        return
    labels = {b.no: b.label for b in batch_table()}
    print_table(
        f"Campaign {p.id}: {p.planned} SMS at {p.rate_per_s:g}/s",
        ["batch", "who", "SMS"],
        [[n, labels[n], c] for n, c in p.batches.items()],
    )
    if p.warning:
        console.print(f"[yellow]warning[/yellow]: {p.warning}")
    console.print(f"start it with: mingbai campaign start {p.id}")


@campaign_app.command("start")
def start(ctx: typer.Context, campaign_id: IdArg) -> None:
    """Start (or resume) handing out send slots."""
    from mingbai.campaigns.service import start_campaign

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        start_campaign(uow, campaign_id, actor=cli_actor())
    console.print(f"campaign {campaign_id}: running")


@campaign_app.command("pause")
def pause(ctx: typer.Context, campaign_id: IdArg) -> None:
    from mingbai.campaigns.service import pause_campaign

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        pause_campaign(uow, campaign_id, actor=cli_actor())
    console.print(f"campaign {campaign_id}: paused")


@campaign_app.command("status")
def status(ctx: typer.Context, campaign_id: IdArg, json_out: JsonOpt = False) -> None:
    """Progress: planned, released, sent, delivered, and MTs per state."""
    from mingbai.campaigns.service import campaign_progress

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        p = campaign_progress(uow, campaign_id)
    if json_out:
        print_json({**p.__dict__, "written": p.written, "sent": p.sent, "delivered": p.delivered})
        return
    console.print(
        f"campaign {p.id} {p.name!r}: {p.status}; released {p.released}/{p.planned}, "
        f"sent {p.sent}, delivered {p.delivered}"
    )
    if p.waiting == "quiet_hours" and p.waiting_until:
        console.print(f"waiting: quiet hours ({p.quiet_hours}); releases resume at {local_text(p.waiting_until)}")
    elif p.waiting == "not_started" and p.waiting_until:
        console.print(f"waiting: the campaign starts at {local_text(p.waiting_until)}")
    print_table("MTs by state", ["state", "count"], [[s, n] for s, n in p.counts.items() if n])


@campaign_app.command("run")
def run(
    ctx: typer.Context,
    campaign_id: IdArg,
    every: Annotated[float, typer.Option("--every", help="Seconds between releases.")] = 0.5,
) -> None:
    """Start the campaign and keep releasing its slots until every SMS is out (Ctrl-C stops;
    run again to resume). With the embedded gateway it also delivers; with SMPP the
    ``mingbai sms-gateway`` process sends what is released."""
    from mingbai.campaigns.service import campaign_progress, release_due, start_campaign

    platform = opts(ctx).platform()
    with friendly_errors():
        with platform.uow() as uow:
            start_campaign(uow, campaign_id, actor=cli_actor())
            p = campaign_progress(uow, campaign_id)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            released = bar.add_task("released ", total=p.planned, completed=p.released)
            sent = bar.add_task("sent     ", total=p.planned, completed=p.sent)
            delivered = bar.add_task("delivered", total=p.planned, completed=p.delivered)
            try:
                while True:
                    with platform.uow() as uow:
                        release_due(uow)
                    platform.deliver()
                    with platform.uow() as uow:
                        p = campaign_progress(uow, campaign_id)
                    bar.update(released, completed=p.released)
                    bar.update(sent, completed=p.sent, total=max(p.written, 1) if p.status == "done" else p.planned)
                    bar.update(
                        delivered, completed=p.delivered, total=max(p.written, 1) if p.status == "done" else p.planned
                    )
                    if p.status in ("done", "ended") and p.counts["queued"] + p.counts["submitting"] == 0:
                        break
                    time.sleep(every)
            except KeyboardInterrupt:
                console.print("stopped; run again to resume")
    console.print(f"campaign {p.id}: {p.status}; {p.written} SMS written, {p.delivered} delivered")
