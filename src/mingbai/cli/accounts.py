"""``mingbai user``: console accounts for staff and SP users (subscribers sign in by SMS)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mingbai.cli.audit import cli_actor
from mingbai.cli.common import console, emit, friendly_errors, opts

app = typer.Typer(help="Console users: staff and SP accounts.", no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@app.command("create")
def create(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username")],
    role: Annotated[str, typer.Option("--role", help="agent|hall|supervisor|operator|security|auditor|sp")],
    name: Annotated[str, typer.Option("--name", help="Display name")],
    sp: Annotated[str | None, typer.Option("--sp", help="SP code, for role sp")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a user; the password is asked for (or read from stdin) and stored as an argon2 hash."""
    from mingbai.accounts.service import create_user

    password = _password(password_stdin)
    with friendly_errors(), opts(ctx).platform().uow() as uow:
        user = create_user(
            uow,
            username=username,
            role=role,
            display_name=name,
            password=password,
            sp_code=sp,
            actor=cli_actor(),
        )
        made = (user.username, user.role, user.sp_code)
    console.print(f"user {made[0]} ({made[1]}{', ' + made[2] if made[2] else ''}) created")


@app.command("contact")
def contact(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username")],
    phone: Annotated[str | None, typer.Option("--phone", help="their own mobile ('' clears it): vault codes")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="their unit, told to subscribers (not their name)")] = None,
) -> None:
    """Set a staff member's phone (vault approvals by SMS, security alerts) and unit."""
    from mingbai.accounts.service import set_contact
    from mingbai.msisdn import mask_msisdn

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        user = set_contact(uow, username=username, phone=phone, unit=unit, actor=cli_actor())
        shown = (user.username, mask_msisdn(user.phone) if user.phone else "—", user.unit or "—")
    console.print(f"user {shown[0]}: phone {shown[1]}, unit {shown[2]}")


@app.command("list")
def list_(ctx: typer.Context, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every console user (never a password or hash)."""
    from mingbai.accounts.service import list_users

    with opts(ctx).platform().uow() as uow:
        rows = [
            {
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "sp": u.sp_code,
                "status": u.status,
                "last_sign_in_at": u.last_sign_in_at,
            }
            for u in list_users(uow)
        ]
    emit(
        rows,
        json_out=json_out,
        title="Console users",
        columns=["username", "name", "role", "sp", "status", "last sign-in"],
        row=lambda r: list(r.values()),
    )


@app.command("password")
def password(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a new password; the user's open sessions end."""
    from mingbai.accounts.service import set_password

    value = _password(password_stdin)
    with friendly_errors(), opts(ctx).platform().uow() as uow:
        set_password(uow, username=username, password=value, actor=cli_actor())
    console.print(f"password of {username} changed; sessions ended")


@app.command("disable")
def disable(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable again instead.")] = False,
) -> None:
    """Disable a user (sessions end at once) or, with --enable, enable them again."""
    from mingbai.accounts.service import set_user_status

    status = "active" if enable else "disabled"
    with friendly_errors(), opts(ctx).platform().uow() as uow:
        set_user_status(uow, username=username, status=status, actor=cli_actor())
    console.print(f"user {username}: {status}")
