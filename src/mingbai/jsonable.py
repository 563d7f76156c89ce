"""Turn service results (dataclasses, datetimes, dates) into JSON-ready values, or into their API-named shapes."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any, TypeVar


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


T = TypeVar("T")


def recast(cls: type[T], value: Any) -> T:
    """``value`` (a dataclass) as ``cls``, a subclass that only gives the shape its API name
    (``class ReportOut(ReportView): pass``): one declaration of the fields, and the OpenAPI
    schema keeps its name. Pydantic validates a dataclass response only from its own class."""
    return cls(**{f.name: getattr(value, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
