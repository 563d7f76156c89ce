"""What every CLI command shares: the platform built from global options, output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DataError

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
    except UnicodeError:  # text no encoder writes (bytes that were not UTF-8 on the command line)
        err_console.print("[red]error[/red]: the input is not UTF-8 text")
        raise typer.Exit(1) from None
    except ValueError as exc:
        err_console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from None
    except DataError:  # passed validation, but the database cannot hold it (NUL on PostgreSQL)
        err_console.print("[red]error[/red]: a value cannot be stored (text must not contain NUL characters)")
        raise typer.Exit(1) from None


def read_json_file(file: Path) -> Any:
    """A JSON document from a file, as the API reads one: a UTF-8 BOM is fine; anything else that is
    not JSON (other encodings, nesting too deep for any document of ours) is a clear ValueError."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file} is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError(f"{file} is nested too deeply to be a document of ours") from None


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
