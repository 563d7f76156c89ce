"""What every CLI command shares: the platform built from global options, output helpers."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError
from typer.core import TyperGroup

from mingbai.clock import Clock, FixedClock, SystemClock, local_text, parse_instant
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


def cell(value: Any) -> str:
    """A table cell: times in Asia/Shanghai with their offset (a person reads them), never UTC."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_text(value)
    return str(value)


def _is_id(column: str) -> bool:
    return column == "id" or column.endswith(("_id", " id")) or column in ("version", "period", "code", "msisdn")


#: narrower than this, a wrapped column is more fold than text
_READABLE = 8


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Rich table that never cuts a value: ids (the next command's argument) never wrap, a
    time wraps only between date and clock time. When that does not fit the terminal, each
    row is printed as ``column  value`` lines instead (as ``psql``'s expanded display does)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1), collapse_padding=True)
    needed = 0
    for i, c in enumerate(columns):
        cells = [cell(r[i]) for r in rows]
        longest = max([cell_len(c), *map(cell_len, cells)])
        if _is_id(c):
            table.add_column(c, no_wrap=True, overflow="ignore", min_width=longest)
            needed += longest
        elif any(isinstance(r[i], datetime) for r in rows):
            table.add_column(c, overflow="fold", min_width=len("10:00:00+08:00"))
            needed += len("10:00:00+08:00")
        else:
            table.add_column(c, overflow="fold")
            needed += min(longest, _READABLE)
    needed += 2 * len(columns)
    for r in rows:
        table.add_row(*[cell(v) for v in r])
    if not rows or needed <= console.width:
        console.print(table)
        return
    console.print(f"[italic]{title}[/italic]")
    label = max(len(c) for c in columns)
    for n, r in enumerate(rows, 1):
        console.rule(f"{n}", align="left")
        for c, v in zip(columns, r, strict=True):
            console.print(f"{c:<{label}}  {cell(v)}", highlight=False, soft_wrap=True)


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
