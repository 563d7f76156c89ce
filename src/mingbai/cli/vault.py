"""``mingbai vault``: sensitive operations with a second person's approval (金库模式, R13), and the
CDR and location stores they guard.

Whoever acts names themselves with ``--as USERNAME`` and proves it with their console password
(asked for, or ``--password-stdin``): the CLI signs them in as the consoles do (the sign-in log
and its back-off count it), so a shell on the server is not a way to approve as someone else.
"""

from __future__ import annotations

import csv
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from mingbai.cli.common import IdArg, console, emit, friendly_errors, opts, print_json
from mingbai.clock import local_text
from mingbai.errors import Forbidden, MingbaiError
from mingbai.jsonable import jsonable

app = typer.Typer(help="Vault mode (金库模式): ask, approve, use once; CDR and location data.", no_args_is_help=True)

AsOpt = Annotated[str, typer.Option("--as", help="Your staff username")]
PwOpt = Annotated[bool, typer.Option("--password-stdin", help="Read your password from stdin.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (at least 4 characters)")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt("Password", hide_input=True)
    return value


def _signed_in(ctx: typer.Context, username: str, password_stdin: bool) -> Any:
    """The staff member, once their password is verified (recorded like a console sign-in)."""
    from mingbai.accounts.service import end_session, sign_in_password
    from mingbai.vault.service import staff_by_username

    password = _password(password_stdin)
    platform = opts(ctx).platform()
    with platform.uow() as uow:
        result = sign_in_password(uow, username=username, password=password, address="cli")
        if result.ok and result.token:
            end_session(uow, result.token)
    if not result.ok:
        raise Forbidden(f"sign-in refused ({result.reason})", code="bad_credentials")
    with platform.uow() as uow:
        return staff_by_username(uow, username, via="cli", address="cli")


def _guarded(ctx: typer.Context, who: Any, action: str, request_id: int | None, run: Any) -> Any:
    from mingbai.vault.service import record_refusal

    platform = opts(ctx).platform()
    try:
        with platform.uow() as uow:
            return run(uow)
    except MingbaiError as exc:
        with platform.uow() as uow:
            record_refusal(uow, who, action, request_id, exc)
        raise


def _show(view: Any, json_out: bool) -> None:
    if json_out:
        print_json(view)
        return
    console.print(
        f"request {view.id}: {view.operation} {view.subject} {view.params or ''} — {view.status}"
        f" ({view.approvals}/{view.approvals_needed} approvals), asked by {view.requester}"
        f" ({view.requester_role}, {view.requester_unit}): {view.reason}"
    )


@app.command("request")
def request_cmd(
    ctx: typer.Context,
    as_: AsOpt,
    operation: Annotated[str, typer.Option("--operation", help="cdr|location|identity|export|identity_change")],
    reason: ReasonOpt,
    msisdn: Annotated[str | None, typer.Option("--msisdn")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD (cdr, location)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD (cdr, location)")] = None,
    export: Annotated[
        list[str] | None, typer.Option("--export", help="of=subscribers|subscriptions, key=value…")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="identity_change: the new name")] = None,
    id_type: Annotated[str | None, typer.Option("--id-type", help="identity_change: id_card|passport|other")] = None,
    id_number: Annotated[str | None, typer.Option("--id-number", help="identity_change: the new ID number")] = None,
    password_stdin: PwOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Ask for one sensitive operation; the approvers get an SMS with a code at once."""
    from mingbai.vault.service import request_access

    with friendly_errors():
        who = _signed_in(ctx, as_, password_stdin)
        definition = dict(kv.split("=", 1) for kv in export or [] if "=" in kv) or None
        with opts(ctx).platform().uow() as uow:
            view = request_access(
                uow,
                who,
                operation=operation,
                reason=reason,
                msisdn=msisdn,
                date_from=date.fromisoformat(date_from) if date_from else None,
                date_to=date.fromisoformat(date_to) if date_to else None,
                export=definition,
                identity={"name": name or "", "id_type": id_type or "", "id_number": id_number or ""}
                if operation == "identity_change"
                else None,
            )
    _show(view, json_out)


@app.command("approve")
def approve_cmd(
    ctx: typer.Context, request_id: IdArg, as_: AsOpt, password_stdin: PwOpt = False, json_out: JsonOpt = False
) -> None:
    """Approve a request (security; never your own)."""
    from mingbai.vault.service import approve

    with friendly_errors():
        who = _signed_in(ctx, as_, password_stdin)
        view = _guarded(ctx, who, "approve", request_id, lambda uow: approve(uow, who, request_id))
    _show(view, json_out)


@app.command("deny")
def deny_cmd(
    ctx: typer.Context,
    request_id: IdArg,
    as_: AsOpt,
    reason: ReasonOpt,
    password_stdin: PwOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Deny a request, with the reason (security)."""
    from mingbai.vault.service import deny

    with friendly_errors():
        who = _signed_in(ctx, as_, password_stdin)
        view = _guarded(ctx, who, "deny", request_id, lambda uow: deny(uow, who, request_id, reason=reason))
    _show(view, json_out)


def _print_result(result: Any, out: Path | None, json_out: bool) -> None:
    if result.csv is not None and out is not None:
        out.write_text(result.csv, encoding="utf-8")
        console.print(f"{len(result.rows)} rows written to {out}")
    elif json_out:
        print_json(result)
    else:
        for row in result.rows:
            console.print("  ".join(local_text(v) if hasattr(v, "tzinfo") else str(v) for v in row.values()))
        console.print(f"{len(result.rows)} rows (request {result.request_id}, {result.operation})")


@app.command("use")
def use_cmd(
    ctx: typer.Context,
    request_id: IdArg,
    as_: AsOpt,
    out: Annotated[Path | None, typer.Option("--out", help="export: write the CSV file here")] = None,
    password_stdin: PwOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Use your approved request: once, within its window; prints the data unmasked."""
    from mingbai.vault.service import use

    with friendly_errors():
        who = _signed_in(ctx, as_, password_stdin)
        result = _guarded(ctx, who, "use", request_id, lambda uow: use(uow, who, request_id))
    _print_result(result, out, json_out)


@app.command("break-glass")
def break_glass_cmd(
    ctx: typer.Context,
    as_: AsOpt,
    operation: Annotated[str, typer.Option("--operation", help="cdr|location|identity")],
    msisdn: Annotated[str, typer.Option("--msisdn")],
    reason: ReasonOpt,
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    password_stdin: PwOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Emergency access without approval (configured roles only): flagged, security alerted, reviewed."""
    from mingbai.vault.service import break_glass

    with friendly_errors():
        who = _signed_in(ctx, as_, password_stdin)
        result = _guarded(
            ctx,
            who,
            "break_glass",
            None,
            lambda uow: break_glass(
                uow,
                who,
                operation=operation,
                reason=reason,
                msisdn=msisdn,
                date_from=date.fromisoformat(date_from) if date_from else None,
                date_to=date.fromisoformat(date_to) if date_to else None,
            ),
        )
    _print_result(result, None, json_out)


@app.command("review")
def review_cmd(
    ctx: typer.Context,
    request_id: IdArg,
    as_: AsOpt,
    outcome: Annotated[str, typer.Option("--outcome", help="accepted|escalated")],
    note: Annotated[str, typer.Option("--note")],
    password_stdin: PwOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Review a break-glass access (security)."""
    from mingbai.vault.service import review

    with friendly_errors():
        who = _signed_in(ctx, as_, password_stdin)
        view = _guarded(
            ctx, who, "review", request_id, lambda uow: review(uow, who, request_id, outcome=outcome, note=note)
        )
    _show(view, json_out)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    what: Annotated[str, typer.Argument(help="pending | reviews | all")] = "pending",
    json_out: JsonOpt = False,
) -> None:
    """Requests (masked): pending ones, break-glass accesses waiting for review, or all recent."""
    from sqlalchemy import select

    from mingbai.vault import service
    from mingbai.vault.models import VaultRequest

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        if what == "reviews":
            views = service.reviews_pending(uow)
        else:
            q = select(VaultRequest).order_by(VaultRequest.id.desc()).limit(200)
            if what == "pending":
                q = q.where(VaultRequest.status == "pending")
            views = [service.get_request(uow, r.id) for r in uow.session.scalars(q)]
    emit(
        views,
        json_out=json_out,
        title="Vault requests",
        columns=["id", "operation", "subject", "requester", "status", "approvals", "created", "reason"],
        row=lambda v: [
            str(v.id),
            v.operation + (" (break-glass)" if v.break_glass else ""),
            v.subject,
            f"{v.requester} ({v.requester_role})",
            v.status + (f" / review {v.review_status}" if v.review_status else ""),
            f"{v.approvals}/{v.approvals_needed}",
            local_text(v.created_at),
            v.reason,
        ],
    )


@app.command("history")
def history_cmd(
    ctx: typer.Context, msisdn: Annotated[str, typer.Option("--msisdn")], json_out: JsonOpt = False
) -> None:
    """Who saw this subscriber's data (unit and role, never a name): what the portal shows them."""
    from mingbai.vault.service import access_history

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = access_history(uow, msisdn)
    emit(
        rows,
        json_out=json_out,
        title="Accesses to the subscriber's data",
        columns=["at", "operation", "unit", "role", "reason", "break-glass"],
        row=lambda a: [local_text(a.at), a.operation, a.unit, a.role, a.reason, "yes" if a.break_glass else ""],
    )


@app.command("load")
def load_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="cdr | location")],
    file: Annotated[Path, typer.Argument(help="CSV with a header line")],
) -> None:
    """Load CDRs (msisdn,started_at,kind,direction,other_party,duration_s,volume_kb,cell_id) or
    locations (msisdn,at,cell_id,area,lat_e6,lon_e6) from CSV; all or nothing."""
    from mingbai.vault.service import load_cdrs, load_locations

    if kind not in ("cdr", "location"):
        raise typer.BadParameter("cdr or location")
    with friendly_errors():
        with file.open(encoding="utf-8-sig", newline="") as fh:
            records = list(csv.DictReader(fh))
        with opts(ctx).platform().uow() as uow:
            n = (load_cdrs if kind == "cdr" else load_locations)(uow, records, first_line=2)
    console.print(f"{n} {kind} records loaded")


@app.command("generate")
def generate_cmd(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, max=92)] = 14,
    json_out: JsonOpt = False,
) -> None:
    """Demo CDRs and locations for every subscriber, the last DAYS days (once)."""
    from mingbai.vault.service import seed_demo_records

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        cdrs, locs = seed_demo_records(uow, days=days)
    if json_out:
        print_json(jsonable({"cdr": cdrs, "location": locs}))
    else:
        console.print(f"{cdrs} CDRs and {locs} location records generated")
