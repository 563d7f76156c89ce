"""``mingbai``: run, administer and simulate the platform from a terminal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mingbai.audit import service as audit
from mingbai.cli import accounts as accounts_cli
from mingbai.cli.audit import cli_actor
from mingbai.cli.campaigns import campaign_app
from mingbai.cli.charging import register as register_charging
from mingbai.cli.common import (
    IdArg,
    MingbaiGroup,
    Options,
    console,
    emit,
    friendly_errors,
    opts,
    print_json,
    print_table,
    read_json_file,
)
from mingbai.cli.disputes import register as register_disputes
from mingbai.cli.messaging import sms_gateway
from mingbai.cli.spam import spam_app
from mingbai.cli.vault import app as vault_app
from mingbai.clock import local_text
from mingbai.jsonable import jsonable
from mingbai.text import unstorable

if TYPE_CHECKING:
    from mingbai.dbroles import Roles

app = typer.Typer(
    cls=MingbaiGroup,
    help="Mingbai (明白): subscribers pay only for what they knowingly ordered.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
seed_app = typer.Typer(help="Load data.", no_args_is_help=True)
catalog_app = typer.Typer(help="SPs, services and subscribers (R1).", no_args_is_help=True)
sms_app = typer.Typer(help="SMS in and out.", no_args_is_help=True)
key_app = typer.Typer(help="API keys for SPs and staff.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(seed_app, name="seed")
app.add_typer(catalog_app, name="catalog")
app.add_typer(sms_app, name="sms")
app.add_typer(key_app, name="apikey")
app.add_typer(campaign_app, name="campaign")
app.command("sms-gateway")(sms_gateway)
app.add_typer(accounts_cli.app, name="user")
app.add_typer(spam_app, name="spam")
app.add_typer(vault_app, name="vault")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: $MINGBAI_DATABASE_URL, else the SQLite file var/mingbai.db)."
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Fix the clock, ISO-8601 (default: $MINGBAI_NOW, else the system clock).")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="The demo (as MINGBAI_DEMO=1): serve the handset page, and print what the handset received, "
            "codes included. Never in production.",
        ),
    ] = False,
) -> None:
    from mingbai.clock import parse_instant

    for value, name in ((at, "--at"), (None if at else os.environ.get("MINGBAI_NOW"), "MINGBAI_NOW")):
        if value:
            try:
                parse_instant(value)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint=name) from None
    ctx.obj = Options(db=db, at=at, demo=demo)
    audit.use_address("cli")  # what the commands record in the audit log comes from the terminal


# -- db / seed -----------------------------------------------------------------------------


OwnerUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--owner-url",
        help="The database as its owner role, who migrates (default: $MINGBAI_MIGRATE_DATABASE_URL, "
        "unless --db is given; else the application's URL: one role does both).",
    ),
]
AppRoleOpt = Annotated[
    str | None,
    typer.Option(
        "--app-role",
        help="The application role to grant (default: $MINGBAI_DATABASE_APP_ROLE, else the user of the "
        "application's URL when it is not the owner's).",
    ),
]


def _roles(ctx: typer.Context, owner_url: str | None, app_role: str | None) -> Roles:
    from mingbai.dbroles import resolve

    o = opts(ctx)
    settings = o.settings()
    owner = owner_url or (None if o.db else settings.migrate_database_url or None)
    return resolve(settings.database_url, owner, app_role or settings.database_app_role or None)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, owner_url: OwnerUrlOpt = None, app_role: AppRoleOpt = None) -> None:
    """Create or migrate the schema to the newest version (every capability's head), as the owner
    role; then, on PostgreSQL with an application role, grant it (as ``mingbai db roles``)."""
    from mingbai.all_models import metadata
    from mingbai.dbroles import grant_url
    from mingbai.migrate import current, upgrade

    with friendly_errors():
        roles = _roles(ctx, owner_url, app_role)
        upgrade(roles.owner_url)
        console.print(f"schema at {', '.join(current(roles.owner_url))}")
        if roles.app_role:
            for line in grant_url(roles.owner_url, metadata, roles.app_role, roles.app_password):
                console.print(line)


@db_app.command("roles")
def db_roles(
    ctx: typer.Context,
    owner_url: OwnerUrlOpt = None,
    app_role: AppRoleOpt = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Only report what the application role may do and should not.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The application role on PostgreSQL (docs/database-roles.md): create it when missing and grant
    it INSERT and SELECT on the append-only tables, read and write on the rest, and nothing that
    rewrites history (TRUNCATE, triggers, DDL). ``--check`` changes nothing; exit 1 on a problem."""
    from mingbai.all_models import metadata
    from mingbai.db import append_only_tables
    from mingbai.dbroles import check_url, grant_url

    with friendly_errors():
        roles = _roles(ctx, owner_url, app_role)
        if not roles.owner_url.startswith("postgresql"):
            raise ValueError("database roles are PostgreSQL's; on SQLite the hash chains detect rewrites")
        if roles.app_role is None:
            raise ValueError(
                "no application role: give --app-role (or MINGBAI_DATABASE_APP_ROLE), or an owner URL "
                "(--owner-url, MINGBAI_MIGRATE_DATABASE_URL) whose user differs from the application's"
            )
        actions = [] if check_only else grant_url(roles.owner_url, metadata, roles.app_role, roles.app_password)
        problems = check_url(roles.owner_url, metadata, roles.app_role)
    if json_out:
        print_json(
            {
                "role": roles.app_role,
                "append_only": list(append_only_tables(metadata)),
                "actions": actions,
                "problems": problems,
                "ok": not problems,
            }
        )
    else:
        for line in actions:
            console.print(line)
        for line in problems:
            console.print(f"[red]problem[/red]: {line}")
        if not problems:
            tables = ", ".join(append_only_tables(metadata))
            console.print(f"{roles.app_role}: may not rewrite history (append-only: {tables})")
    if problems:
        raise typer.Exit(1)


@seed_app.command("demo")
def seed_demo(ctx: typer.Context) -> None:
    """Demo SPs, services, subscribers and demo-only API keys."""
    from mingbai.accounts.demo import seed_demo_accounts
    from mingbai.demo import seed_demo as seed

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        report, keys = seed(uow)
        users = seed_demo_accounts(uow)
    console.print(f"demo catalog: {report.sps} SPs, {report.services} services, {report.subscribers} subscribers")
    for label, key in keys:
        console.print(f"  API key {label}: {key}")
    for username, role, password in users:
        console.print(f"  console user {username} ({role}): password {password}")


# -- catalog ---------------------------------------------------------------------------------


@catalog_app.command("import")
def catalog_import(ctx: typer.Context, file: Path, json_out: JsonOpt = False) -> None:
    """Import a catalog JSON file (docs/catalog-import.md); all or nothing."""
    from mingbai.catalog.service import import_catalog

    with friendly_errors():
        raw = read_json_file(file)
        with opts(ctx).platform().uow() as uow:
            report = import_catalog(uow, raw, actor=cli_actor())
    if json_out:
        print_json(report)
    else:
        console.print(f"imported {report.sps} SPs, {report.services} services, {report.subscribers} subscribers")


@catalog_app.command("list")
def catalog_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """SPs and services."""
    from mingbai.catalog.service import list_services, list_sps

    with opts(ctx).platform().uow() as uow:
        sps = [
            {"code": s.code, "name": s.name, "hotline": s.hotline, "status": s.status, "access_number": s.access_number}
            for s in list_sps(uow)
        ]
        services = [
            {
                "code": s.code,
                "sp": s.sp_code,
                "name": s.name,
                "type": s.type,
                "billing": s.billing,
                "price_fen": s.price_fen,
                "status": s.status,
                "mo_keyword": s.mo_keyword,
            }
            for s in list_services(uow)
        ]
    if json_out:
        print_json({"sps": sps, "services": services})
        return
    print_table("SPs", ["code", "name", "hotline", "status", "access_number"], [list(s.values()) for s in sps])
    print_table(
        "Services",
        ["code", "sp", "name", "type", "billing", "price_fen", "status", "keyword"],
        [list(s.values()) for s in services],
    )


@catalog_app.command("suspend")
def catalog_suspend(
    ctx: typer.Context,
    code: str,
    service: bool = typer.Option(False, "--service"),
    resume: bool = typer.Option(False, "--resume"),
    reason: str | None = typer.Option(None, "--reason", help="Why (required to suspend); recorded with who."),
) -> None:
    """Suspend (or --resume) an SP, or with --service a service: no new orders or confirmations."""
    from mingbai.catalog.service import set_service_status, set_sp_status

    status = "active" if resume else "suspended"
    with friendly_errors(), opts(ctx).platform().uow() as uow:
        actor = cli_actor()
        (set_service_status if service else set_sp_status)(uow, code, status, actor=actor, reason=reason)
    console.print(f"{'service' if service else 'SP'} {code}: {status}")


# -- orders, SMS, subscriptions -------------------------------------------------------------------


@app.command("order")
def order(
    ctx: typer.Context,
    msisdn: Annotated[str, typer.Option("--msisdn")],
    service: Annotated[str, typer.Option("--service")],
    channel: Annotated[str, typer.Option("--channel", help="sp|sms|web|wap|hotline|hall|terminal")],
    gifter: Annotated[str | None, typer.Option("--gifter", help="MSISDN of who gives the service")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Place an order; it stays pending until the subscriber replies the code sent by SMS."""
    from mingbai.messaging.service import as_sms
    from mingbai.subscriptions.service import place_order

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        placed = place_order(
            uow,
            msisdn=msisdn,
            service_code=service,
            channel=channel,
            actor=cli_actor(),
            gifter=gifter,
        )
    # the phone's screen, codes included, only in the demo; elsewhere a code is never printed
    sent = as_sms(uow.enqueued, reveal=uow.settings.demo)
    sms = [{"to": s.to, "from": s.sender, "text": s.text} for s in sent]
    if json_out:
        print_json({"order": jsonable(placed), "sms": sms})
        return
    console.print(
        f"order {placed.order_id}: {placed.service_code} for {placed.msisdn}, {placed.status}, "
        f"code valid until {local_text(placed.expires_at)}"
    )
    for s in sms:
        console.print(f"  SMS {s['from']} → {s['to']}: {s['text']}", soft_wrap=True, markup=False, highlight=False)


@sms_app.command("send")
def sms_send(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The SMS text, e.g. 0000")],
    sender: Annotated[str, typer.Option("--from", help="Subscriber MSISDN")],
    to: Annotated[str, typer.Option("--to", help="Destination, e.g. 10086")] = "10086",
    json_out: JsonOpt = False,
) -> None:
    """Inject a mobile-originated SMS and print every SMS Mingbai sent in reply."""
    with friendly_errors():
        why = unstorable(text)
        if why:  # bytes that were not UTF-8 reach us as lone surrogates
            raise ValueError(f"the text is not UTF-8, or {why}")
        result = opts(ctx).platform().intake.receive(sender, to, text)
    replies = [{"to": s.to, "from": s.sender, "text": s.text} for s in result.replies]
    if json_out:
        print_json(replies)
        return
    for r in replies:
        console.print(f"{r['from']} → {r['to']}: {r['text']}", soft_wrap=True, markup=False, highlight=False)
    if not replies:
        console.print("(no reply)")


@app.command("tick")
def tick(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Do everything due up to now: expire codes, send due reminders. Safe to run twice."""
    report = opts(ctx).platform().tick()
    if json_out:
        print_json(report)
    else:
        console.print(
            f"expired orders: {report.expired_orders}, monthly reminders written: "
            f"{report.monthly_reminders}, SMS sent: {report.sent}"
        )


@app.command("subscriptions")
def subscriptions(
    ctx: typer.Context,
    msisdn: Annotated[str, typer.Option("--msisdn")],
    active: Annotated[bool, typer.Option("--active", help="Only active ones.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """A subscriber's subscriptions (all of them, newest last)."""
    from mingbai.msisdn import normalize_msisdn
    from mingbai.subscriptions.service import gift_label, gifts_given, list_subscriptions

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        # and the gifts this subscriber pays for, on their recipients' side (issue 13)
        subs = list_subscriptions(uow, msisdn=msisdn, active_only=active)
        subs += gifts_given(uow, msisdn=msisdn, active_only=active)
        viewer = normalize_msisdn(msisdn)
    emit(
        subs,
        json_out=json_out,
        title=f"Subscriptions of {msisdn}",
        columns=[
            "service",
            "SP",
            "status",
            "channel",
            "price_fen",
            "confirmed_at",
            "first_charge_on",
            "unsubscribed_at",
            "gift",
        ],
        row=lambda s: [
            s.service_code,
            s.sp_name,
            s.status,
            s.channel,
            s.price_fen,
            s.confirmed_at,
            s.first_charge_on,
            s.unsubscribed_at,
            gift_label(s, viewer),
        ],
    )


@app.command("history")
def history(ctx: typer.Context, msisdn: Annotated[str, typer.Option("--msisdn")], json_out: JsonOpt = False) -> None:
    """A subscriber's change history over the last year (every event)."""
    from mingbai.subscriptions.service import history as hist

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        events = hist(uow, msisdn=msisdn)
    emit(
        events,
        json_out=json_out,
        title=f"History of {msisdn}",
        columns=["at", "kind", "service", "actor", "channel"],
        row=lambda e: [e.at, e.kind, e.service_code, e.actor, e.channel],
    )


@app.command("unsubscribe")
def unsubscribe(
    ctx: typer.Context,
    msisdn: Annotated[str, typer.Option("--msisdn")],
    service: Annotated[str | None, typer.Option("--service", help="Service code; omit for all.")] = None,
    channel: Annotated[str, typer.Option("--channel")] = "hotline",
    json_out: JsonOpt = False,
) -> None:
    """Unsubscribe on the subscriber's behalf (one service, or all)."""
    from mingbai.subscriptions.service import unsubscribe as unsub

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        ended = unsub(
            uow,
            msisdn=msisdn,
            channel=channel,
            service_code=service,
            actor=cli_actor(),
        )
    if json_out:
        print_json(ended)
    else:
        console.print(f"unsubscribed: {', '.join(e.service_code for e in ended) or 'nothing active'}")


# -- API keys ----------------------------------------------------------------------------------


@key_app.command("create")
def key_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="sp|agent|hall|operator|smsc|reviewer")],
    label: Annotated[str, typer.Option("--label")],
    sp: Annotated[str | None, typer.Option("--sp", help="SP code, for role sp")] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from mingbai.auth.service import create_key

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        key = create_key(uow, role=role, label=label, sp_code=sp, actor=cli_actor())
    console.print(key)


@key_app.command("list")
def key_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    from mingbai.auth.service import list_keys

    with opts(ctx).platform().uow() as uow:
        rows = [
            {
                "id": k.id,
                "prefix": k.prefix,
                "role": k.role,
                "sp": k.sp_code,
                "label": k.label,
                "revoked": k.revoked_at is not None,
            }
            for k in list_keys(uow)
        ]
    emit(
        rows,
        json_out=json_out,
        title="API keys",
        columns=["id", "prefix", "role", "sp", "label", "revoked"],
        row=lambda r: list(r.values()),
    )


@key_app.command("revoke")
def key_revoke(ctx: typer.Context, key_id: IdArg) -> None:
    from mingbai.auth.service import revoke_key

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        revoke_key(uow, key_id, actor=cli_actor())
    console.print(f"revoked {key_id}")


# -- serve ---------------------------------------------------------------------------------------


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers")] = 1,
) -> None:
    """Run the HTTP API, consoles, handset page and the scheduler."""
    import uvicorn

    o = opts(ctx)
    os.environ["MINGBAI_DATABASE_URL"] = o.settings().database_url
    if o.demo:
        os.environ["MINGBAI_DEMO"] = "1"
    if o.at:
        os.environ["MINGBAI_NOW"] = o.at
    uvicorn.run(
        "mingbai.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # uvicorn would believe X-Forwarded-For from 127.0.0.1; the app believes only
        # MINGBAI_TRUSTED_PROXIES (a rotated header must not dodge or aim the per-address limits)
        proxy_headers=False,
    )


register_charging(app)
register_disputes(app)


def main() -> None:
    from mingbai import logmask

    logmask.install()  # no whole MSISDN nor code in any log line, tracebacks included
    app()


if __name__ == "__main__":
    main()
