"""Text every store can hold (issue 12): no NUL (PostgreSQL refuses it), no lone surrogate (half of
a UTF-16 pair, e.g. half an emoji: no UTF-8 encoder writes it). Refused at the edges, with a reason."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if _SURROGATE.search(value):
        return "must not contain half of a character (a lone surrogate, e.g. half an emoji)"
    return None


def _storable(value: str) -> str:
    why = unstorable(value)
    if why:
        raise ValueError(why)
    return value


#: a str field of an API body or a file record that ends up in the database
StorableText = Annotated[str, AfterValidator(_storable)]
