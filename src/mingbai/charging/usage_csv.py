"""The usage-record file of the operator's collection points (docs/usage-csv.md), parsed and
checked without a database. Every problem is reported with its line number; one bad line
rejects the whole file (the importer applies a file whole or not at all).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mingbai.clock import parse_instant
from mingbai.errors import InvalidInput
from mingbai.msisdn import normalize_msisdn

COLUMNS = ("record_id", "msisdn", "used_at", "kind", "service_code", "quantity", "roaming")
REQUIRED = ("record_id", "msisdn", "used_at", "kind", "quantity")
KINDS = ("vas", "data", "voice", "sms")
ROAMING = ("", "domestic", "abroad")
#: at most this many problems are listed; the file is rejected either way
MAX_REPORTED = 20
MAX_QUANTITY = 10**12
_RECORD_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CODE = re.compile(r"[A-Za-z0-9_\-]{1,32}")


@dataclass(frozen=True)
class UsageRow:
    line: int
    record_id: str
    msisdn: str
    used_at: datetime
    kind: str
    service_code: str | None
    quantity: int
    roaming: str


class UsageFileError(InvalidInput):
    """The file is rejected; ``problems`` lists (line, reason) for the first bad lines."""

    def __init__(self, problems: list[tuple[int, str]], more: int = 0) -> None:
        self.problems = problems
        listed = "; ".join(f"line {line}: {why}" for line, why in problems)
        tail = f"; and {more} more" if more else ""
        super().__init__(f"usage file rejected, nothing imported: {listed}{tail}", code="bad_usage_file")


def _row(line: int, raw: dict[str, str], max_use_quantity: int) -> UsageRow:
    def field(name: str) -> str:
        return (raw.get(name) or "").strip()

    record_id = field("record_id")
    if not _RECORD_ID.fullmatch(record_id):
        raise ValueError("record_id must be 1–64 letters, digits or . _ : -")
    try:
        msisdn = normalize_msisdn(field("msisdn"))
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    try:
        used_at = parse_instant(field("used_at"))
    except ValueError as exc:
        raise ValueError(f"used_at: {exc}") from None
    kind = field("kind").lower()
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {field('kind')!r}")
    code = field("service_code").upper() or None
    if kind == "vas":
        if code is None or not _CODE.fullmatch(code):
            raise ValueError("a vas record names its service_code")
    elif code is not None:
        raise ValueError(f"a {kind} record has no service_code")
    qty_text = field("quantity") or ("1" if kind == "vas" else "")
    if not qty_text.isdigit() or not 0 < int(qty_text) <= MAX_QUANTITY:
        raise ValueError(f"quantity must be a whole number from 1, got {field('quantity')!r}")
    if kind == "vas" and int(qty_text) > max_use_quantity:
        raise ValueError(f"quantity of a vas record must be at most {max_use_quantity}, got {qty_text}")
    roaming = field("roaming").lower()
    if roaming not in ROAMING:
        raise ValueError(f"roaming must be empty, domestic or abroad, got {field('roaming')!r}")
    return UsageRow(line, record_id, msisdn, used_at, kind, code, int(qty_text), roaming)


def parse_usage_csv(data: bytes, *, max_use_quantity: int = 1_000) -> list[UsageRow]:
    """Every row, or :class:`UsageFileError` naming the bad lines (line 1 is the header)."""
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageFileError([(body_line(data, exc.start), "not UTF-8 text")]) from None
    if "\x00" in body:
        raise UsageFileError([(body_line(data, data.index(b"\x00")), "a NUL character (a binary file?)")])
    reader = csv.reader(io.StringIO(body, newline=""))
    try:
        return _rows(reader, max_use_quantity)
    except csv.Error as exc:  # a field longer than any record could be (csv.field_size_limit)
        raise UsageFileError([(reader.line_num, f"not a usage line ({exc})")]) from None


def _rows(reader: Any, max_use_quantity: int) -> list[UsageRow]:
    header = next(reader, None)
    if header is None:
        raise UsageFileError([(1, "the file is empty; it starts with a header line")])
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in COLUMNS]
    missing = [n for n in REQUIRED if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        why = []
        if missing:
            why.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            why.append(f"unknown column(s) {', '.join(unknown)}")
        if len(set(names)) != len(names):
            why.append("a column is named twice")
        raise UsageFileError([(1, "; ".join(why) + f" (columns: {', '.join(COLUMNS)})")])
    rows: list[UsageRow] = []
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank lines carry nothing
        if len(values) != len(names):
            problems.append((line, f"{len(values)} fields, the header has {len(names)}"))
            continue
        try:
            row = _row(line, dict(zip(names, values, strict=True)), max_use_quantity)
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        key = (row.msisdn, row.record_id)
        if key in seen:
            problems.append((line, f"record {row.record_id} of this subscriber repeats line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        raise UsageFileError(problems[:MAX_REPORTED], max(0, len(problems) - MAX_REPORTED))
    if not rows:
        raise UsageFileError([(1, "the file has a header but no records")])
    return rows


def body_line(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1
