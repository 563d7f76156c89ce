"""``mingbai billing``, ``usage``, ``balance`` and the top-level ``charges``, ``bill``, ``advise``,
``activate`` commands (R6, R7, R15)."""

from __future__ import annotations

import os
import threading
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mingbai.catalog.rules import yuan
from mingbai.cli.common import console, emit, friendly_errors, opts, print_json, print_table

billing_app = typer.Typer(
    help="The monthly billing run, its records, packages and objections (R6).", no_args_is_help=True
)
usage_app = typer.Typer(
    help="Usage records from the collection points (per-use charges, traffic).", no_args_is_help=True
)
balance_app = typer.Typer(help="Prepaid balances: recharge cards, payments, gifts and returns.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
MsisdnOpt = Annotated[str, typer.Option("--msisdn", help="Subscriber MSISDN")]


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'operator')}"


# -- billing -------------------------------------------------------------------------------------


@billing_app.command("run")
def billing_run(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM (Asia/Shanghai month)")],
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Subscriptions per transaction.")] = 50_000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Chunks charged side by side (PostgreSQL); default: MINGBAI_BILLING_WORKERS, else 2.",
        ),
    ] = None,
    throttle_ms: Annotated[int, typer.Option("--throttle-ms", help="Pause between chunks.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Raise the month's fees for every subscription that owes them; safe to rerun or restart."""
    from mingbai.charging.billing import run_billing
    from mingbai.charging.rules import parse_billing_period

    platform = opts(ctx).platform()
    with friendly_errors():
        p = parse_billing_period(period)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("subscriptions · {task.fields[charged]} charged"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=json_out,
            transient=False,
        )
        lock = threading.Lock()
        state = {"charged": 0, "done": 0, "total": 0}
        task = progress.add_task(f"billing {p.label}", total=None, charged=0)

        def started(total: int) -> None:
            state["total"] = total
            progress.update(task, total=total)

        def chunk(result: object) -> None:
            # a chunk is chunk_size subscriptions, the last one the rest: count subscriptions,
            # never more than there are (one unit on both sides of the bar's "done/total")
            with lock:
                state["charged"] += result.charged  # type: ignore[attr-defined]
                state["done"] = min(state["total"], state["done"] + result.seen)  # type: ignore[attr-defined]
                progress.update(task, completed=state["done"], charged=state["charged"])

        with progress:
            summary = run_billing(
                platform,
                p,
                actor=_actor(),
                chunk_size=chunk_size,
                workers=workers,
                throttle_ms=throttle_ms,
                on_start=started,
                on_chunk=chunk,
            )
            progress.update(task, completed=state["total"])  # every subscription was looked at
    if json_out:
        print_json(summary)
        return
    seconds = summary.seconds or 0.0
    rate = f"{summary.charged / seconds:,.0f} charges/s" if seconds else ""
    console.print(
        f"billing {summary.period} {summary.status}: {summary.seen:,} subscriptions seen, "
        f"{summary.charged:,} charged, {yuan(summary.amount_fen)} yuan, {summary.reminders:,} reminders, "
        f"{summary.chunks} chunks in {seconds:.1f}s {rate}"
    )
    skipped = [[k, f"{v:,}"] for k, v in summary.skipped.items() if v]
    if skipped:
        print_table("Not charged", ["reason", "subscriptions"], skipped)


@billing_app.command("runs")
def billing_runs(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Recorded runs, newest first, with their figures."""
    from mingbai.charging.billing import list_runs

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        runs = list_runs(uow, period=period)
    emit(
        runs,
        json_out=json_out,
        title="Billing runs",
        columns=["id", "period", "mode", "status", "started", "seen", "charged", "yuan", "reminders", "actor"],
        row=lambda r: [
            r.run_id,
            r.period,
            r.mode,
            r.status,
            r.started_at,
            r.seen,
            r.charged,
            yuan(r.amount_fen),
            r.reminders,
            r.actor,
        ],
    )


@billing_app.command("packages")
def billing_packages(json_out: JsonOpt = False) -> None:
    """The tariff packages the advisor compares."""
    from mingbai.charging.packages import PACKAGES

    emit(
        PACKAGES,
        json_out=json_out,
        title="Packages",
        columns=["code", "name", "fee", "voice min", "SMS", "data MB", "over voice/min", "over SMS", "over data/MB"],
        row=lambda p: [
            p.code,
            p.name,
            yuan(p.monthly_fee_fen),
            p.voice_min,
            p.sms,
            p.data_mb,
            yuan(p.voice_fen_per_min),
            yuan(p.sms_fen_each),
            yuan(p.data_fen_per_mb),
        ],
    )


@billing_app.command("objections")
def billing_objections(
    ctx: typer.Context,
    msisdn: Annotated[str | None, typer.Option("--msisdn")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open, …")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Objections to charges: the start of each dispute."""
    from mingbai.charging.service import list_objections

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = list_objections(uow, msisdn=msisdn, status=status)
    emit(
        rows,
        json_out=json_out,
        title="Objections",
        columns=["id", "msisdn", "charge id", "service", "period", "yuan", "when", "channel", "status"],
        row=lambda o: [
            o.id,
            o.msisdn,
            o.charge_id,
            o.service_code,
            o.period,
            yuan(o.amount_fen),
            o.objected_at,
            o.channel,
            o.status,
        ],
    )


# -- usage ---------------------------------------------------------------------------------------


@usage_app.command("import")
def usage_import(
    ctx: typer.Context,
    file: Path,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Records per transaction; other writers get in between.")
    ] = 5_000,
    json_out: JsonOpt = False,
) -> None:
    """Import a usage CSV (docs/usage-csv.md): per-use charges and traffic alerts. The whole file is
    checked first; then it is applied in chunks, and a rerun after a stop resumes where it got to."""
    from mingbai.charging.usage import import_usage_in_chunks

    platform = opts(ctx).platform()
    with friendly_errors():
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {file}: {exc.strerror}") from None
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=json_out,
            transient=True,
        )
        with progress:
            task = progress.add_task(f"importing {file.name}", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = import_usage_in_chunks(
                platform.uow, data, filename=file.name, actor=_actor(), chunk_rows=chunk_rows, progress=advance
            )
    if json_out:
        print_json(report)
    elif report.already_imported:
        console.print(f"{file.name}: this file was imported before (import {report.import_id}); nothing done")
    else:
        console.print(
            f"{file.name}: {report.records:,} records ({report.new_records:,} new), {report.charges:,} per-use charges "
            f"({yuan(report.amount_fen)} yuan), {report.alerts:,} traffic alerts"
        )


# -- balance -------------------------------------------------------------------------------------


@balance_app.command("show")
def balance_show(ctx: typer.Context, msisdn: MsisdnOpt, json_out: JsonOpt = False) -> None:
    """Balance, debt and points."""
    from mingbai.charging.ledger import balance

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        b = balance(uow, msisdn=msisdn)
    if json_out:
        print_json(b)
    else:
        console.print(
            f"{b.msisdn}: balance {yuan(b.balance_fen)} yuan, owed {yuan(b.owed_fen)} yuan, {b.points} points "
            f"(credits {yuan(b.credits_fen)}, charges {yuan(b.charges_fen)})"
        )


@balance_app.command("recharge")
def balance_recharge(
    ctx: typer.Context, msisdn: MsisdnOpt, card: Annotated[str, typer.Option("--card")], json_out: JsonOpt = False
) -> None:
    """Recharge with a card."""
    from mingbai.charging.ledger import recharge_with_card

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        got = recharge_with_card(uow, msisdn=msisdn, card_no=card, channel="hall", actor=_actor())
    print_json(got) if json_out else console.print(f"recharged {yuan(got.amount_fen)} yuan ({got.note})")


@balance_app.command("credit")
def balance_credit(
    ctx: typer.Context,
    msisdn: MsisdnOpt,
    kind: Annotated[str, typer.Option("--kind", help="payment|gift|return|refund")],
    amount_fen: Annotated[int, typer.Option("--amount-fen")],
    ref: Annotated[str, typer.Option("--ref", help="Receipt or reference; the same one credits once")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Take a payment, or give a gift, return or refund."""
    from mingbai.charging.ledger import credit

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        got = credit(
            uow, msisdn=msisdn, kind=kind, amount_fen=amount_fen, channel="hall", actor=_actor(), ref=ref, note=note
        )
    if json_out:
        print_json(got)
    else:
        console.print(f"{got.kind} {yuan(got.amount_fen)} yuan {'credited' if got.created else 'was already credited'}")


@balance_app.command("cards")
def balance_cards(
    ctx: typer.Context,
    first: Annotated[str, typer.Option("--first", help="First card number (digits)")],
    count: Annotated[int, typer.Option("--count")],
    face_fen: Annotated[int, typer.Option("--face-fen")],
    issued_on: Annotated[str, typer.Option("--issued-on", help="YYYY-MM-DD")],
    printed_expiry: Annotated[str | None, typer.Option("--printed-expiry", help="Cards issued before 2012")] = None,
) -> None:
    """Issue consecutive recharge cards."""
    from mingbai.charging.ledger import issue_cards

    with friendly_errors():
        if not first.isdigit() or not 1 <= count <= 100_000:
            raise ValueError("--first must be digits and --count 1–100000")
        numbers = [str(int(first) + i).zfill(len(first)) for i in range(count)]
        with opts(ctx).platform().uow() as uow:
            made = issue_cards(
                uow,
                card_numbers=numbers,
                face_value_fen=face_fen,
                issued_on=date.fromisoformat(issued_on),
                printed_expiry=date.fromisoformat(printed_expiry) if printed_expiry else None,
            )
    console.print(f"{len(made)} cards of {yuan(face_fen)} yuan, valid until {made[0].expires_on}")


# -- top-level commands --------------------------------------------------------------------------


def charges(
    ctx: typer.Context,
    msisdn: MsisdnOpt,
    period: Annotated[str | None, typer.Option("--period", help="YYYY-MM")] = None,
    json_out: JsonOpt = False,
) -> None:
    """A subscriber's charges: monthly fees and per-use charges, oldest first."""
    from mingbai.charging.service import list_charges

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = list_charges(uow, msisdn=msisdn, period=period)
    emit(
        rows,
        json_out=json_out,
        title=f"Charges of {msisdn}",
        columns=["period", "service", "SP", "kind", "quantity", "yuan", "charged at", "objected"],
        row=lambda c: [
            c.period,
            c.service_code,
            c.sp_name,
            c.kind,
            c.quantity,
            yuan(c.amount_fen),
            c.created_at,
            "yes" if c.objected else "",
        ],
    )


def bill(
    ctx: typer.Context,
    msisdn: MsisdnOpt,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    html: Annotated[Path | None, typer.Option("--html", help="Also write the bill as an HTML page here.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """A subscriber's bill for a month, with every item of the new bill (seed 002)."""
    from mingbai.charging.bill import bill as make_bill

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        b = make_bill(uow, msisdn=msisdn, period=period)
    if html is not None:
        from mingbai.charging.api import BILL_CSS, templates
        from mingbai.consoles.i18n import enum_translator

        templates.env.filters["channel"] = lambda c: enum_translator("zh-CN")("channel", c)

        html.write_text(
            templates.get_template("bill.html").render(bill=b, inline_css=BILL_CSS.read_text(encoding="utf-8")),
            encoding="utf-8",
        )
    if json_out:
        print_json(b)
        return
    console.print(f"[bold]{b.period_zh}账单[/bold] {b.msisdn} ({b.first_day} – {b.last_day})")
    console.print(
        f"balance {yuan(b.opening_balance_fen)} + credits {yuan(b.credits_fen)} − debits {yuan(b.debits_fen)}"
        f" = {yuan(b.closing_balance_fen)} yuan; owed {yuan(b.opening_owed_fen)} → {yuan(b.closing_owed_fen)} yuan"
    )
    print_table(
        "充值及交费记录",
        ["at", "kind", "yuan", "ref"],
        [[c.at, c.kind, yuan(c.amount_fen), c.ref] for c in b.recharges_and_payments],
    )
    print_table(
        "赠送及返还金额",
        ["at", "kind", "yuan", "note"],
        [[c.at, c.kind, yuan(c.amount_fen), c.note] for c in b.gifts_and_returns],
    )
    print_table(
        f"套餐通信量使用状况: {b.package.package_name}",
        ["item", "included", "used", "over", "over yuan"],
        [
            [
                line.item,
                f"{line.included} {line.unit}",
                f"{line.used} {line.unit}",
                f"{line.over} {line.unit}",
                yuan(line.over_fen),
            ]
            for line in b.package.lines
        ],
    )
    print_table(
        f"积分: {b.points_opening} → {b.points_closing}",
        ["at", "change", "reason"],
        [[p.at, f"{p.delta:+d}", p.reason] for p in b.points_changes],
    )
    print_table(
        "代收费业务消费明细",
        ["SP", "service", "date", "kind", "yuan"],
        [
            [sp.sp_name, s.service_code, i.day, i.kind, yuan(i.amount_fen)]
            for sp in b.third_party
            for s in sp.services
            for i in s.items
        ],
    )
    console.print(f"third-party total {yuan(b.third_party_total_fen)} yuan")


def advise(ctx: typer.Context, msisdn: MsisdnOpt, json_out: JsonOpt = False) -> None:
    """The package that would have cost least over the last three months, and the saving."""
    from mingbai.charging.bill import advise_subscriber

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        result = advise_subscriber(uow, msisdn=msisdn)
    if json_out:
        print_json(result)
        return
    console.print(result.summary)
    print_table(
        f"Packages priced on {', '.join(result.advice.periods)}",
        ["package", "name", "total yuan"],
        [[q.package_code, q.package_name, yuan(q.total_fen)] for q in result.advice.quotes],
    )


def activate(
    ctx: typer.Context,
    msisdn: MsisdnOpt,
    brand: Annotated[str, typer.Option("--brand", help="gotone|mzone|easyown|全球通|…")],
    province: Annotated[str, typer.Option("--province")],
    city: Annotated[str | None, typer.Option("--city")] = None,
    package: Annotated[str | None, typer.Option("--package", help="See `mingbai billing packages`")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Activate a number (入网) and send the network-entry reminder."""
    from mingbai.charging.service import activate as do_activate
    from mingbai.messaging.service import as_sms

    platform = opts(ctx).platform()
    with friendly_errors():
        with platform.uow() as uow:
            done = do_activate(uow, msisdn=msisdn, brand=brand, province=province, city=city, package_code=package)
            sent = as_sms(uow.enqueued)
        platform.deliver(msisdn=done.msisdn)
    if json_out:
        print_json({"activation": done, "sms": [s.text for s in sent]})
        return
    for s in sent:
        console.print(f"{s.sender} → {s.to}: {s.text}", soft_wrap=True, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the charging commands to the ``mingbai`` app."""
    app.add_typer(billing_app, name="billing")
    app.add_typer(usage_app, name="usage")
    app.add_typer(balance_app, name="balance")
    app.command("charges")(charges)
    app.command("bill")(bill)
    app.command("advise")(advise)
    app.command("activate")(activate)
