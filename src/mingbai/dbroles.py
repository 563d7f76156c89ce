"""Two PostgreSQL roles: the owner, who migrates, and the application, who may not rewrite history.

The **owner** role (``MINGBAI_MIGRATE_DATABASE_URL``, or ``--owner-url``) owns the schema and
every table: ``mingbai db upgrade`` runs the migrations as it and then, in the same command,
grants the **application** role (the user of ``MINGBAI_DATABASE_URL``, or
``MINGBAI_DATABASE_APP_ROLE``) what the platform needs and nothing more:

* ``SELECT, INSERT`` on the append-only tables (models marked ``@append_only``, see
  :func:`mingbai.db.append_only`); ``SELECT, INSERT, UPDATE, DELETE`` on the other tables;
  ``SELECT`` on ``alembic_version``; ``USAGE, SELECT`` on the sequences;
* ``USAGE`` on the schema, never ``CREATE``; never ``TRUNCATE``, ``TRIGGER`` or ``REFERENCES``
  (each table's privileges are revoked and granted afresh, so a grant made by hand is undone);
* default privileges: a table the owner creates later starts at ``SELECT, INSERT`` (fail closed:
  the next upgrade grants the rest when it is not append-only).

Owning nothing, the application role cannot ``ALTER TABLE … DISABLE TRIGGER``, ``DROP TRIGGER``,
create or alter tables; not being a member of the owner, it cannot ``SET ROLE`` to it. What a
superuser or someone holding the owner's password could still do is for the hash chains to
detect (``mingbai evidence verify``, :mod:`mingbai.hashchain`).

The step is idempotent and safe to run by several processes at once (an advisory lock
serialises it). It creates the application role (``LOGIN``, no other attribute) when it is
missing, which needs ``CREATEROLE``; a role made beforehand by a DBA, ``NOLOGIN`` included, is
used as it is, and only its password is set, when one is given. SQLite has no roles: there the
hash chains are the whole defence (docs/database-roles.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, MetaData, text
from sqlalchemy.engine import make_url

from mingbai.db import append_only_tables, make_engine

#: the application role's name when the settings name none
DEFAULT_APP_ROLE = "mingbai_app"

#: privileges, by kind of table
APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
#: a table created after the last grant (and not yet known): fail closed
DEFAULT_PRIVILEGES = "SELECT, INSERT"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('mingbai:dbroles'))"


@dataclass(frozen=True)
class Roles:
    """Who migrates and who runs: ``owner_url`` connects as the owner; ``app_role`` is the
    application's role (``None``: one role does both, as on SQLite or in a single-role setup)."""

    owner_url: str
    app_role: str | None
    app_password: str | None = None


def resolve(app_url: str, owner_url: str | None, app_role: str | None = None) -> Roles:
    """The roles the settings describe: the owner's URL (else the application's: one role does
    both), and the application role: ``app_role`` when named, else the user of ``app_url``
    when it differs from the owner's; its password is the one in ``app_url``."""
    owner = owner_url or app_url
    if not owner.startswith("postgresql"):
        return Roles(owner, None)
    app, own = make_url(app_url), make_url(owner)
    role = app_role or (app.username if owner_url and app.username != own.username else None)
    if role is None or role == own.username:
        return Roles(owner, None)
    check_role_name(role)
    password = app.password if app.username == role else None
    return Roles(owner, role, None if password is None else str(password))


def check_role_name(role: str) -> str:
    if not _ROLE_NAME.match(role):
        raise ValueError(f"the application role must be a lower-case SQL name (a-z, 0-9, _), got {role!r}")
    return role


def app_url(owner_url: str, role: str, password: str | None = None) -> str:
    """The owner's URL with the application role as its user (same host, database, options)."""
    return make_url(owner_url).set(username=role, password=password).render_as_string(hide_password=False)


def _literal(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a password cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def grant(conn: Connection, metadata: MetaData, role: str, password: str | None = None) -> list[str]:
    """Create the application role when missing and set its privileges on the current schema's
    tables (see the module's docstring). Call inside a transaction, connected as the owner.
    Returns what it did, one line per step."""
    check_role_name(role)
    conn.execute(text(_LOCK))
    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).scalar():
        # Citus propagates each GRANT to the shards; with foreign keys to reference tables it
        # must do so over one connection per worker, for the whole transaction
        conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
    actions: list[str] = []
    owner = conn.execute(text("SELECT current_user")).scalar_one()
    if role == owner:
        raise ValueError(f"the application role cannot be the owner role itself ({role})")
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar() is not None
    secret = "" if password is None else f" PASSWORD {_literal(password)}"
    if not exists:
        conn.execute(
            text(
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT'
                + secret
            )
        )
        actions.append(f"role {role}: created")
    elif password is not None:
        may = conn.execute(text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")).scalar()
        if may:
            conn.execute(text(f'ALTER ROLE "{role}"{secret}'))
            actions.append(f"role {role}: password set")
        else:  # a role the DBA manages, password included
            actions.append(f"role {role}: password left as it is ({owner} may not alter roles)")
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    if schema is None:
        raise RuntimeError("no current schema: the search_path names no schema that exists")
    q = f'"{schema}"'
    conn.execute(text(f'GRANT USAGE ON SCHEMA {q} TO "{role}"'))
    conn.execute(text(f'REVOKE CREATE ON SCHEMA {q} FROM "{role}"'))
    schema_owner = conn.execute(
        text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).scalar_one()
    if schema_owner == owner:  # PUBLIC's CREATE (the public schema before PostgreSQL 15) would let it in
        conn.execute(text(f"REVOKE CREATE ON SCHEMA {q} FROM PUBLIC"))
    append_only = set(append_only_tables(metadata))
    known = set(metadata.tables)
    tables = conn.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"), {"s": schema}
    ).scalars()
    counts = {"append-only": 0, "read-write": 0, "other": 0}
    for name in tables:
        if name == "alembic_version":
            privileges = "SELECT"
        elif name in append_only:
            privileges, counts["append-only"] = APPEND_ONLY_PRIVILEGES, counts["append-only"] + 1
        elif name in known:
            privileges, counts["read-write"] = TABLE_PRIVILEGES, counts["read-write"] + 1
        else:  # not this code's table (yet): what any new table gets
            privileges, counts["other"] = DEFAULT_PRIVILEGES, counts["other"] + 1
        conn.execute(text(f'REVOKE ALL ON TABLE {q}."{name}" FROM "{role}"'))
        conn.execute(text(f'GRANT {privileges} ON TABLE {q}."{name}" TO "{role}"'))
    conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q} TO "{role}"'))
    conn.execute(text(f'ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT {DEFAULT_PRIVILEGES} ON TABLES TO "{role}"'))
    conn.execute(text(f'ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT USAGE, SELECT ON SEQUENCES TO "{role}"'))
    actions.append(
        f"schema {schema}: {role} may INSERT and SELECT {counts['append-only']} append-only tables, "
        f"read and write {counts['read-write']}"
        + (f", INSERT and SELECT {counts['other']} unknown" if counts["other"] else "")
    )
    problems = check(conn, metadata, role)
    if problems:
        raise RuntimeError("the application role has more than it should: " + "; ".join(problems))
    return actions


_ROLE_FLAGS = (
    ("rolsuper", "is a superuser"),
    ("rolbypassrls", "bypasses row security"),
    ("rolcreaterole", "can create roles"),
    ("rolcreatedb", "can create databases"),
    ("pg_has_role(rolname, current_user, 'MEMBER')", "is a member of the owner role"),
)

_TABLE_PRIVILEGES = """
SELECT c.relname, pg_get_userbyid(c.relowner) = r.n,
       has_table_privilege(r.n, c.oid, 'TRUNCATE'), has_table_privilege(r.n, c.oid, 'TRIGGER'),
       has_table_privilege(r.n, c.oid, 'REFERENCES'), has_table_privilege(r.n, c.oid, 'UPDATE'),
       has_table_privilege(r.n, c.oid, 'DELETE')
FROM pg_class c, (SELECT CAST(:r AS name) AS n) r
WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def check(conn: Connection, metadata: MetaData, role: str) -> list[str]:
    """What the application role can do and should not, on the current schema (empty: nothing)."""
    flags = ", ".join(expr for expr, _ in _ROLE_FLAGS)
    row = conn.execute(text(f"SELECT {flags} FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if row is None:
        return [f"role {role} does not exist"]
    problems = [f"{role} {what}" for flag, (_, what) in zip(row, _ROLE_FLAGS, strict=True) if flag]
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    creates = conn.execute(
        text("SELECT has_schema_privilege(CAST(:r AS name), current_schema(), 'CREATE')"), {"r": role}
    ).scalar()
    if creates:
        problems.append(f"{role} can create objects in schema {schema}")
    append_only = append_only_tables(metadata)
    for name, owns, truncate, trigger, references, update, delete in conn.execute(text(_TABLE_PRIVILEGES), {"r": role}):
        if owns:
            problems.append(f"{role} owns {name}")
        for flag, what in ((truncate, "TRUNCATE"), (trigger, "TRIGGER"), (references, "REFERENCES")):
            if flag:
                problems.append(f"{role} has {what} on {name}")
        if name in append_only and (update or delete):
            problems.append(f"{role} may UPDATE or DELETE append-only {name}")
    return problems


def grant_url(owner_url: str, metadata: MetaData, role: str, password: str | None = None) -> list[str]:
    """:func:`grant`, connected as the owner at ``owner_url`` (PostgreSQL only)."""
    engine = make_engine(owner_url)
    try:
        with engine.begin() as conn:
            return grant(conn, metadata, role, password)
    finally:
        engine.dispose()


def check_url(owner_url: str, metadata: MetaData, role: str) -> list[str]:
    engine = make_engine(owner_url)
    try:
        with engine.connect() as conn:
            return check(conn, metadata, role)
    finally:
        engine.dispose()
