"""Schema migrations (Alembic), run programmatically by ``mingbai db upgrade``.

Each capability may add its own Alembic branch; ``upgrade`` takes every head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from mingbai.db import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> list[str]:
    """Migrate to ``revision``; then, on a Citus coordinator, distribute what is not yet
    (mingbai.citus). Returns the distribution's actions (empty elsewhere)."""
    make_engine(url).dispose()  # creates the SQLite file's folder when needed
    command.upgrade(alembic_config(url), revision)
    return distribute(url)


def distribute(url: str) -> list[str]:
    """The Citus step of an upgrade (idempotent): see :mod:`mingbai.citus`."""
    from mingbai import citus
    from mingbai.all_models import metadata

    setting = citus.mode()
    if setting == "off":
        return []
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if not citus.is_citus(conn):
                if setting == "on":
                    raise RuntimeError("MINGBAI_CITUS=on but the database has no citus extension")
                return []
            return citus.distribute(conn, metadata)
    finally:
        engine.dispose()


def current(url: str) -> list[str]:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    engine.dispose()
    return list(heads)
