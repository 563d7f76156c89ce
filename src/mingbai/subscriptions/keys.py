"""Server secrets generated once and kept in ``platform_key`` (shared by every worker): the MAC
keys of confirmation and sign-in codes, the consoles' CSRF key. The one helper for them."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from mingbai.db import Ctx, insert_ignore
from mingbai.subscriptions.models import PlatformKey

#: (engine, name) → key: read once per process and database
_CACHE: dict[tuple[int, str], bytes] = {}


def stored_secret(ctx: Ctx, name: str) -> bytes:
    """The secret called ``name``: made by the first worker that asks (the others' inserts are
    ignored, so all agree on the value the database kept), then cached per engine."""
    cache_key = (id(ctx.session.get_bind()), name)
    if cache_key not in _CACHE:
        insert_ignore(ctx.session, PlatformKey.__table__, [{"name": name, "value": secrets.token_hex(32)}], ["name"])
        value = ctx.session.scalar(select(PlatformKey.value).where(PlatformKey.name == name))
        assert value is not None
        _CACHE[cache_key] = bytes.fromhex(value)
    return _CACHE[cache_key]
