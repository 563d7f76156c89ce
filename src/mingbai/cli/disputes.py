"""``mingbai dispute``, ``disputes``, ``evidence`` and ``audit`` (R8): disputes decided by rule from
the consent evidence, the evidence chain and its verification, the consent audit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from mingbai.catalog.rules import yuan
from mingbai.cli.audit import audit_app
from mingbai.cli.common import IdArg, console, err_console, friendly_errors, opts, print_json, print_table
from mingbai.clock import SHANGHAI
from mingbai.jsonable import jsonable

dispute_app = typer.Typer(help="Disputes about charges, decided by rule (R8: 双倍返还).", no_args_is_help=True)
policy_app = typer.Typer(help="先确认后退费 or 先退费后查证, per service category.", no_args_is_help=True)
evidence_app = typer.Typer(
    help="The consent evidence behind a charge, and verification of its hash chain.", invoke_without_command=True
)
dispute_app.add_typer(policy_app, name="policy")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
MsisdnOpt = Annotated[str, typer.Option("--msisdn", help="Subscriber MSISDN")]


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'operator')}"


def _when(dt: object) -> str:
    from datetime import datetime

    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if isinstance(dt, datetime) else ""


def decision_json(view: Any) -> dict[str, Any]:
    """A dispute as the acceptance interface names it: id, rule, refund_fen, return_fen, status,
    and the evidence the rule used, with everything else about it."""
    return dict(jsonable(view))


def _show(view: Any) -> None:
    rule = view.rule or "(verifying)"
    console.print(
        f"dispute {view.id} {view.status}: rule {rule}, refund {yuan(view.refund_fen)} yuan, "
        f"return {yuan(view.return_fen)} yuan, policy {view.policy}"
        + (" [replayed: nothing new posted]" if view.replayed else "")
    )
    rows = []
    for i in view.items:
        codes = ", ".join(f"{f['code']} {f['reason']}" for f in i.evidence.get("findings", []))
        rows.append(
            [i.charge_id, i.service_code, i.period, i.amount_fen, i.rule or "-", i.refund_fen, i.return_fen, codes]
        )
    print_table("Charges", ["charge", "service", "period", "fen", "rule", "refund", "return", "findings"], rows)


@dispute_app.command("open")
def dispute_open(
    ctx: typer.Context,
    msisdn: MsisdnOpt,
    channel: Annotated[str, typer.Option("--channel", help="hotline|hall|web|sms")],
    charge: Annotated[list[int] | None, typer.Option("--charge", help="A disputed charge id (repeatable).")] = None,
    subscription: Annotated[
        int | None, typer.Option("--subscription", help="Every charge of this subscription since its order.")
    ] = None,
    words: Annotated[str | None, typer.Option("--words", help="The subscriber's own words.")] = None,
    keep_service: Annotated[
        bool, typer.Option("--keep-service", help="The subscriber keeps the service (else it stops).")
    ] = False,
    ref: Annotated[str | None, typer.Option("--ref", help="Request reference: a replay posts nothing new.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Open a dispute and get the decision by rule, with the evidence it used."""
    from mingbai.disputes.service import open_dispute

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        view = open_dispute(
            uow,
            msisdn=msisdn,
            channel=channel,
            actor=_actor(),
            charge_ids=charge or None,
            subscription_id=subscription,
            words=words,
            keep_service=keep_service,
            request_ref=ref,
        )
    if json_out:
        print_json(decision_json(view))
    else:
        _show(view)


@dispute_app.command("decide")
def dispute_decide(
    ctx: typer.Context,
    dispute_id: IdArg,
    outcome: Annotated[str, typer.Option("--outcome", help="verified_legitimate|not_verifiable")],
    discretionary_refund: Annotated[
        bool,
        typer.Option("--discretionary-refund", help="Refund a legitimate charge anyway (plain, flagged, ceiling)."),
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required for a discretionary refund).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The verification step: what checking with the SP found."""
    from mingbai.disputes.service import decide_dispute

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        view = decide_dispute(
            uow,
            dispute_id=dispute_id,
            outcome=outcome,
            actor=_actor(),
            discretionary_refund=discretionary_refund,
            reason=reason,
        )
    if json_out:
        print_json(decision_json(view))
    else:
        _show(view)


@dispute_app.command("show")
def dispute_show(ctx: typer.Context, dispute_id: IdArg, json_out: JsonOpt = False) -> None:
    """One dispute with its charges, rules and findings."""
    from mingbai.disputes.service import get_dispute

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        view = get_dispute(uow, dispute_id)
    if json_out:
        print_json(decision_json(view))
    else:
        _show(view)


def disputes_list(
    ctx: typer.Context,
    msisdn: Annotated[str | None, typer.Option("--msisdn", help="Subscriber MSISDN")] = None,
    status: Annotated[str | None, typer.Option("--status", help="verifying|decided")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Disputes, newest first: a subscriber's, or every open one (--status verifying)."""
    from mingbai.disputes.service import list_disputes

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        views = list_disputes(uow, msisdn=msisdn, status=status)
    if json_out:
        print_json([decision_json(v) for v in views])
        return
    print_table(
        "Disputes",
        ["id", "msisdn", "opened", "channel", "status", "rule", "refund", "return", "charges"],
        [
            [
                v.id,
                v.msisdn,
                _when(v.opened_at),
                v.channel,
                v.status,
                v.rule or "-",
                v.refund_fen,
                v.return_fen,
                len(v.items),
            ]
            for v in views
        ],
    )


@dispute_app.command("agents")
def dispute_agents(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Supervisors: per agent, refunds, returns and discretionary refunds."""
    from mingbai.disputes.service import agent_totals

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        totals = agent_totals(uow)
    if json_out:
        print_json(totals)
        return
    print_table(
        "Per agent",
        ["agent", "disputes", "refund fen", "return fen", "discretionary", "discretionary fen"],
        [[t.actor, t.disputes, t.refund_fen, t.return_fen, t.discretionary_count, t.discretionary_fen] for t in totals],
    )


@dispute_app.command("sp")
def dispute_sp(
    ctx: typer.Context, sp: Annotated[str, typer.Option("--sp", help="SP code")], json_out: JsonOpt = False
) -> None:
    """What an SP owes for refunds made on its behalf (numbers masked)."""
    from mingbai.disputes.service import sp_refunds

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = sp_refunds(uow, sp_code=sp)
    if json_out:
        print_json(rows)
        return
    print_table(
        f"Refunds for {sp}",
        ["dispute", "msisdn", "charge", "service", "period", "rule", "refund", "return", "owed"],
        [
            [
                r.dispute_id,
                r.msisdn,
                r.charge_id,
                r.service_code,
                r.period,
                r.rule,
                r.refund_fen,
                r.return_fen,
                r.sp_owes_fen,
            ]
            for r in rows
        ],
    )


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    category: Annotated[str, typer.Option("--category", help="A service type (sms, mms, wap, …) or *")],
    policy: Annotated[str, typer.Option("--policy", help="confirm_first|refund_first")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Choose the policy of a category; the previous choice stays in the history."""
    from mingbai.disputes.service import set_policy

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        view = set_policy(uow, category=category, policy=policy, actor=_actor(), reason=reason)
    if json_out:
        print_json(view)
    else:
        console.print(f"{view.category}: {view.policy}")


@policy_app.command("list")
def policy_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every policy choice, oldest first (the newest per category is in force)."""
    from mingbai.disputes.service import policy_history

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = policy_history(uow)
    if json_out:
        print_json(rows)
        return
    print_table(
        "Dispute policies",
        ["category", "policy", "set", "by", "reason"],
        [[p.category, p.policy, _when(p.set_at), p.actor, p.reason] for p in rows],
    )


# -- evidence -------------------------------------------------------------------------------------


@evidence_app.callback()
def evidence(
    ctx: typer.Context,
    msisdn: Annotated[str | None, typer.Option("--msisdn", help="Subscriber MSISDN")] = None,
    charge: Annotated[int | None, typer.Option("--charge", help="Charge id")] = None,
    subscription: Annotated[int | None, typer.Option("--subscription", help="Subscription id")] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Also write a self-contained, verifiable bundle here.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The chain for a charge: the order, the confirmation request as sent, the subscriber's
    confirming SMS, reminders, events, active use, and the rule's reading of it."""
    if ctx.invoked_subcommand is not None:
        return
    from mingbai.disputes import chain as hashchain
    from mingbai.disputes.evidence import chain

    if msisdn is None or (charge is None and subscription is None):
        err_console.print("[red]error[/red]: give --msisdn and --charge or --subscription (or: evidence verify)")
        raise typer.Exit(2)
    with friendly_errors(), opts(ctx).platform().uow() as uow:
        found = chain(uow, msisdn=msisdn, charge_id=charge, subscription_id=subscription)
        bundle = hashchain.export_bundle(uow, msisdn=msisdn, evidence=jsonable(found)) if export else None
    if bundle is not None and export is not None:
        export.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
    if json_out:
        print_json(found)
        return
    _print_chain(found)
    if export is not None:
        console.print(f"bundle written to {export} ({len(bundle['rows']) if bundle else 0} chained rows)")


def _print_chain(c: Any) -> None:
    s, o = c.subscription, c.order
    console.print(f"[bold]subscription {s['id']}[/bold] {s['service_code']} {s['status']} price {s['price_fen']} fen")
    if o:
        console.print(f"order {o['id']}: channel {o['channel']}, actor {o['actor']}, gifter {o['gifter'] or '-'}")
    if c.confirmation_request:
        r = c.confirmation_request
        console.print(f"confirmation request {_when(r.created_at)} [{r.status}]: {r.text}")
    else:
        console.print("[red]no confirmation request on record[/red]")
    if c.confirming_mo:
        m = c.confirming_mo
        console.print(f"confirming SMS from {m.msisdn} at {_when(m.received_at)}: {m.text!r}")
    else:
        console.print("[red]no confirming SMS on record[/red]")
    for r in c.reminders:
        console.print(f"reminder {r.kind} {_when(r.created_at)} [{r.status}]")
    print_table(
        "Events", ["at", "kind", "actor", "channel"], [[_when(e.at), e.kind, e.actor, e.channel] for e in c.events]
    )
    print_table(
        "Active use",
        ["at", "to", "text", "as"],
        [[_when(m.received_at), m.recipient, m.text, m.handled_as] for m in c.active_use],
    )
    for cid, j in c.judgements.items():
        codes = ", ".join(f"{f['code']} {f['reason']}" for f in j["findings"]) or "supports the charge"
        console.print(f"charge {cid}: {j['rule'] or 'to verify'} — {codes}")


@evidence_app.command("verify")
def evidence_verify(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="An exported bundle; without it, the database.")] = None,
    msisdn: Annotated[str | None, typer.Option("--msisdn", help="Only this subscriber (database).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Recompute the hash chain: exit 1 and name the first bad row when anything was altered or removed."""
    from mingbai.disputes import chain as hashchain

    with friendly_errors():
        if file is not None:
            try:
                bundle = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"cannot read bundle {file}: {exc}") from None
            report = hashchain.verify_bundle(bundle)
        else:
            progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("parts · {task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=console,
                disable=json_out,
                transient=True,
            )
            tasks: dict[str, TaskID] = {}

            def part_done(table: str, parts: int, found: hashchain.Verification) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(f"verifying {table}", total=parts, rows=0)
                rows = progress.tasks[tasks[table]].fields["rows"] + found.rows_checked
                progress.update(tasks[table], advance=1, rows=rows)

            with progress, opts(ctx).platform().uow() as uow:
                report = hashchain.verify_database(uow, msisdn=msisdn, on_part=part_done)
    if json_out:
        print_json(report)
    elif report.ok:
        console.print(f"ok: {report.rows_checked:,} rows in {report.chains:,} chains verified")
    else:
        err_console.print(
            f"[red]tampered[/red]: first bad row {json.dumps(jsonable(report.first_bad), ensure_ascii=False)}"
        )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("consent")
def audit_consent_cmd(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Charges without a confirming SMS from the charged (or, for gifts, the paying) number; exit 1 if any."""
    from mingbai.disputes.audit import audit_consent

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        report = audit_consent(uow)
    if json_out:
        sys.stdout.write(
            json.dumps(
                {
                    "charges_checked": report.charges_checked,
                    "orphans": jsonable(report.orphans),
                    "orphan_count": report.orphan_count,
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    else:
        console.print(f"{report.charges_checked:,} charges checked, {report.orphan_count:,} without consent")
        if report.orphans:
            print_table(
                "Orphans",
                ["msisdn", "charge", "subscription", "service", "fen", "reason"],
                [list(o.values()) for o in report.orphans],
            )
    if report.orphan_count:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(dispute_app, name="dispute")
    app.command("disputes")(disputes_list)
    app.add_typer(evidence_app, name="evidence")
    app.add_typer(audit_app, name="audit")
