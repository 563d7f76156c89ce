"""What every CLI command shares: the platform built from global options, output helpers."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from mingbai.clock import Clock, FixedClock, SystemClock, parse_instant
from mingbai.config import Settings
from mingbai.errors import MingbaiError
from mingbai.ids import MAX_ID
from mingbai.jsonable import jsonable
from mingbai.platform import Platform

console = Console()

T = TypeVar("T")

#: an id argument: out-of-range numbers are refused by the parser, never by the database driver
IdArg = Annotated[int, typer.Argument(min=0, max=MAX_ID)]
err_console = Console(stderr=True)


@dataclass
class Options:
    db: str | None = None
    at: str | None = None
    _platform: Platform | None = None

    def clock(self) -> Clock:
        at = self.at or os.environ.get("MINGBAI_NOW")
        return FixedClock(parse_instant(at)) if at else SystemClock()

    def settings(self) -> Settings:
        return Settings.from_env(self.db)

    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = Platform(self.settings(), clock=self.clock())
        return self._platform


def opts(ctx: typer.Context) -> Options:
    obj = ctx.find_root().obj
    assert isinstance(obj, Options)
    return obj


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Expected failures print their reason and exit 1; they are never a traceback."""
    try:
        yield
    except MingbaiError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from None
    except ValueError as exc:
        err_console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from None


#: what SQLite and PostgreSQL say when a table or column the code expects is not there
_MISSING_SCHEMA = re.compile(r"no such (table|column)")


def missing_schema(exc: BaseException) -> bool:
    """Whether a database error means the schema is older than the code (``mingbai db upgrade`` not run)."""
    if not isinstance(exc, OperationalError | ProgrammingError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in ("42P01", "42703"):  # undefined_table, undefined_column
        return True
    return bool(_MISSING_SCHEMA.search(str(orig)))


class MingbaiGroup(TyperGroup):
    """The root command group: a database that has not been upgraded is said plainly, for every command."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            if not missing_schema(exc):
                raise
            err_console.print(
                "[red]error[/red] (schema_not_upgraded): the database has not been upgraded "
                "to this version; run `mingbai db upgrade` first"
            )
            raise typer.Exit(1) from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), ensure_ascii=False, indent=2) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    console.print(table)


def emit(
    items: Sequence[T],
    *,
    json_out: bool,
    title: str,
    columns: Sequence[str],
    row: Callable[[T], Sequence[Any]],
) -> None:
    """A listing's output: the items themselves as JSON with ``--json``, else a table of one row an item."""
    if json_out:
        print_json(items)
    else:
        print_table(title, columns, [row(x) for x in items])
