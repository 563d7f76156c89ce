"""What every CLI command shares: the platform built from global options, output helpers."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

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
    #: ``--demo``: the same as MINGBAI_DEMO=1
    demo: bool = False
    _platform: Platform | None = None

    def clock(self) -> Clock:
        at = self.at or os.environ.get("MINGBAI_NOW")
        return FixedClock(parse_instant(at)) if at else SystemClock()

    def settings(self) -> Settings:
        settings = Settings.from_env(self.db)
        return dataclasses.replace(settings, demo=True) if self.demo else settings

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
