"""``mingbai audit``: the auditors' commands — the staff audit log's verification, search, signed
checkpoints and public key (issue 16), beside ``audit consent`` (the disputes issue's consent audit,
registered on the same group by :mod:`mingbai.cli.disputes`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mingbai.cli.common import console, err_console, friendly_errors, opts, print_json, print_table

audit_app = typer.Typer(help="Auditors' questions, answered from the records.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def cli_actor() -> str:
    """Who acts from a terminal: the OS user, as the other commands name them."""
    return f"cli:{os.environ.get('USER', 'operator')}"


@audit_app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint JSON kept outside the system (`mingbai audit checkpoint --out`); repeatable.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Walk the whole audit chain and check every signed checkpoint against it: exit 1, naming the
    first bad entry, when any entry was altered, removed, inserted or reordered, or the tail cut."""
    from mingbai.audit import rules
    from mingbai.audit import service as audit

    with friendly_errors():
        external: list[rules.Checkpoint] = []
        for file in checkpoint or []:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"cannot read checkpoint {file}: {exc}") from None
            external.append(rules.Checkpoint.from_json(data))
        with opts(ctx).platform().uow() as uow:
            report = audit.verify(uow, external=external)
    if json_out:
        print_json(report.to_json())
    elif report.ok:
        console.print(
            f"ok: {report.entries:,} entries verified, {report.checkpoints:,} signed checkpoints hold; "
            f"head {report.head[:16]}…"
        )
    else:
        err_console.print(f"[red]tampered[/red]: first bad entry {report.first_bad}: {report.reason}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("search")
def search_cmd(
    ctx: typer.Context,
    msisdn: Annotated[str | None, typer.Option("--msisdn", help="The subject number (found by MAC).")] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="A staff member: alice, or agent:alice.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="An operation or its prefix: catalog., vault.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From, ISO-8601 (Shanghai if no offset).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this instant, ISO-8601.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 200,
    json_out: JsonOpt = False,
) -> None:
    """Entries about a subscriber (--msisdn) or by a staff member (--staff), newest first. The
    search itself is recorded (audit.search), as every staff action is."""
    from mingbai.audit import service as audit
    from mingbai.clock import parse_instant

    if not (msisdn or staff):
        err_console.print("[red]error[/red]: name --msisdn or --staff")
        raise typer.Exit(2)
    with friendly_errors():
        start = parse_instant(since) if since else None
        end = parse_instant(until) if until else None
        with opts(ctx).platform().uow() as uow:
            found = audit.search(uow, msisdn=msisdn, staff=staff, action=action, since=start, until=end, limit=limit)
            audit.record(
                uow,
                actor=cli_actor(),
                role="operator",
                action="audit.search",
                subject_msisdn=msisdn,
                subject=f"staff:{staff}" if staff and not msisdn else None,
                address="cli",
                detail={"action": action or "", "found": len(found)},
            )
    rows = [
        {
            "seq": f.seq,
            "at": f.at,
            "actor": f.actor,
            "role": f.role,
            "action": f.action,
            "subject": f.subject,
            "address": f.address,
            "outcome": f.outcome,
            "detail": f.detail,
        }
        for f in found
    ]
    if json_out:
        print_json(rows)
        return
    print_table(
        "Audit entries",
        ["seq", "at", "actor", "role", "action", "subject", "address", "outcome", "detail"],
        [list(r.values()) for r in rows],
    )


@audit_app.command("checkpoint")
def checkpoint_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write the signed checkpoint JSON to this file.")] = None,
) -> None:
    """Sign the chain's head now and print (or write) the checkpoint: keep it outside the system
    and hand it to `mingbai audit verify --checkpoint` later."""
    from mingbai.audit import service as audit

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        cp = audit.checkpoint(uow)
    text = json.dumps(cp.to_json(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    with friendly_errors():
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot write {out}: {exc.strerror or exc}") from None
    console.print(f"checkpoint at entry {cp.seq} written to {out}")


@audit_app.command("pubkey")
def pubkey_cmd(ctx: typer.Context) -> None:
    """The Ed25519 public key (base64) that signs checkpoints: what an auditor trusts."""
    from mingbai.audit import service as audit

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        key = audit.checkpoint_public_key(uow)
    sys.stdout.write(key + "\n")
