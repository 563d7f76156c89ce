"""Settings, read once from the environment when a platform is built (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mingbai.clock import quiet_hours_text
from mingbai.sealing import Sealer, sealer

DEFAULT_SQLITE_PATH = Path("var") / "mingbai.db"


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _percents_env(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        values = tuple(sorted({int(p) for p in raw.replace(" ", "").split(",") if p}))
    except ValueError as exc:
        raise ValueError(f"{name} must be percentages separated by commas, e.g. 50,80,100; got {raw!r}") from exc
    if not values or any(not 1 <= v <= 1000 for v in values):
        raise ValueError(f"{name} must be percentages from 1 to 1000, got {raw!r}")
    return values


@dataclass(frozen=True)
class Settings:
    #: the database as the application sees it; on PostgreSQL, as the application role
    #: (docs/database-roles.md), which may only INSERT and SELECT the append-only tables
    database_url: str = field(default_factory=default_database_url)
    #: the same database as the owner role, for ``mingbai db upgrade`` and ``mingbai db roles``;
    #: empty: the application's URL migrates too (one role: SQLite, or a single-role setup)
    migrate_database_url: str = ""
    #: the application role ``mingbai db upgrade`` grants to; empty: the user of database_url
    #: when it is not the owner's
    database_app_role: str = ""
    #: how long a secondary-confirmation code may be answered (R2)
    code_ttl_minutes: int = 30
    #: wrong replies a subscriber may send before pending orders are cancelled (R2)
    max_code_attempts: int = 5
    #: digits in a confirmation code
    code_digits: int = 6
    #: a "0000" menu may be answered by number for this long
    menu_ttl_minutes: int = 60
    #: the operator's service number that sends every reminder (R4)
    service_number: str = "10086"
    #: seconds between scheduler passes in ``mingbai serve``
    tick_seconds: int = 5
    #: key for confirmation-code MACs; empty means: use the key stored in the database
    code_secret: str = ""
    #: traffic alerts when a month's package data use crosses these percentages (R7)
    traffic_alert_percents: tuple[int, ...] = (50, 80, 100)
    #: and, roaming abroad, at every further this many MB used in a month (R7)
    roaming_alert_step_mb: int = 10
    #: Asia/Shanghai wall-clock period in which no bulk SMS (campaigns) goes out (R4)
    quiet_hours: str = quiet_hours_text()
    #: chunks the monthly billing run charges side by side on PostgreSQL (SQLite: always one);
    #: the run starts at 00:00 on the 1st, when online traffic leaves the cores to it
    billing_workers: int = 2
    # -- plausibility and traffic limits (issue 12); each a typo or an attack beyond them
    #: units in one per-use (VAS) usage record
    max_use_quantity: int = 1_000
    #: one charge, in fen (default ¥10,000); also keeps every amount inside a 32-bit column
    max_charge_fen: int = 1_000_000
    #: bytes in one API request body (a usage import has its own limit)
    max_body_bytes: int = 1_048_576
    #: bytes in one usage file, through the API or the CLI
    max_import_bytes: int = 64 * 1_048_576
    #: SP orders per minute, per SP key and per (SP, subscriber); 0 turns a limit off
    sp_orders_per_minute: int = 600
    sp_orders_per_subscriber_per_hour: int = 5
    #: sign-in code requests (each an SMS to a number the caller names) per hour, per number and
    #: per source address; 0 turns a limit off
    login_codes_per_number_per_hour: int = 10
    login_codes_per_address_per_hour: int = 30
    #: shared rate-limit counters for several processes (redis://…); empty: in this process
    redis_url: str = ""
    #: token that /metrics asks for (Authorization: Bearer …); empty: /metrics is not served by the app
    metrics_token: str = ""
    #: addresses (comma-separated) whose X-Forwarded-For / X-Forwarded-Proto are believed; empty: none
    trusted_proxies: str = ""
    #: session and CSRF cookies Secure with the ``__Host-`` prefix: auto (when the request is https), always, never
    secure_cookies: str = "auto"
    #: keys that seal one-time codes in the outbox, ``id:base64`` newest first (mingbai.sealing);
    #: empty: the key file below
    secret_keys: tuple[str, ...] = ()
    secret_key_file: str = str(Path("var") / "secret.key")
    #: the demo (``MINGBAI_DEMO=1``, ``mingbai --demo``, ``scripts/demo``): the handset page is
    #: served and the CLI prints what the handset received, codes included. Never in production.
    demo: bool = False

    @property
    def sealer(self) -> Sealer:
        return sealer(self.secret_keys, self.secret_key_file)

    #: the scheduler signs the audit chain's head every this many minutes, or sooner once this
    #: many entries were appended since the last checkpoint (issue 16); 0 turns a trigger off
    audit_checkpoint_minutes: int = 15
    audit_checkpoint_entries: int = 10_000

    #: the most one agent may refund at discretion in a Shanghai month, in fen (R8: 酌情退还)
    discretionary_ceiling_fen: int = 20_000
    #: vault (R13): how long a request waits for its approvers, in minutes
    vault_pending_minutes: int = 30
    #: vault: how long an approval may be used, in minutes (usable while now < approved + this)
    vault_approval_minutes: int = 15
    #: vault: how many distinct approvers a bulk export needs (1 or 2; other operations need 1)
    vault_export_approvers: int = 2
    #: vault: roles that may break the glass (access without prior approval, reviewed afterwards)
    vault_break_glass_roles: str = "supervisor"
    #: vault: the number approvers' code SMS come from and their replies go to
    vault_number: str = "10086007"

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        return cls(
            database_url=database_url or os.environ.get("MINGBAI_DATABASE_URL") or default_database_url(),
            migrate_database_url=os.environ.get("MINGBAI_MIGRATE_DATABASE_URL", ""),
            database_app_role=os.environ.get("MINGBAI_DATABASE_APP_ROLE", "").strip(),
            code_ttl_minutes=_int_env("MINGBAI_CODE_TTL_MINUTES", 30),
            max_code_attempts=_int_env("MINGBAI_MAX_CODE_ATTEMPTS", 5),
            tick_seconds=_int_env("MINGBAI_TICK_SECONDS", 5),
            code_secret=os.environ.get("MINGBAI_CODE_SECRET", ""),
            traffic_alert_percents=_percents_env("MINGBAI_TRAFFIC_ALERT_PERCENTS", (50, 80, 100)),
            roaming_alert_step_mb=_int_env("MINGBAI_ROAMING_ALERT_STEP_MB", 10),
            quiet_hours=os.environ.get("MINGBAI_QUIET_HOURS", quiet_hours_text()),
            billing_workers=_int_env("MINGBAI_BILLING_WORKERS", 2),
            max_use_quantity=_int_env("MINGBAI_MAX_USE_QUANTITY", 1_000),
            max_charge_fen=_int_env("MINGBAI_MAX_CHARGE_FEN", 1_000_000),
            max_body_bytes=_int_env("MINGBAI_MAX_BODY_BYTES", 1_048_576),
            max_import_bytes=_int_env("MINGBAI_MAX_IMPORT_BYTES", 64 * 1_048_576),
            sp_orders_per_minute=_int_env("MINGBAI_SP_ORDERS_PER_MINUTE", 600),
            sp_orders_per_subscriber_per_hour=_int_env("MINGBAI_SP_ORDERS_PER_SUBSCRIBER_PER_HOUR", 5),
            login_codes_per_number_per_hour=_int_env("MINGBAI_LOGIN_CODES_PER_NUMBER_PER_HOUR", 10),
            login_codes_per_address_per_hour=_int_env("MINGBAI_LOGIN_CODES_PER_ADDRESS_PER_HOUR", 30),
            redis_url=os.environ.get("MINGBAI_REDIS_URL", ""),
            metrics_token=os.environ.get("MINGBAI_METRICS_TOKEN", ""),
            trusted_proxies=os.environ.get("MINGBAI_TRUSTED_PROXIES", ""),
            secure_cookies=os.environ.get("MINGBAI_SECURE_COOKIES", "auto").strip().lower() or "auto",
            secret_keys=tuple(k for k in os.environ.get("MINGBAI_SECRET_KEYS", "").split(",") if k.strip()),
            secret_key_file=os.environ.get("MINGBAI_SECRET_KEY_FILE") or str(Path("var") / "secret.key"),
            demo=os.environ.get("MINGBAI_DEMO", "") == "1",
            discretionary_ceiling_fen=_int_env("MINGBAI_DISCRETIONARY_CEILING_FEN", 20_000),
            audit_checkpoint_minutes=_int_env("MINGBAI_AUDIT_CHECKPOINT_MINUTES", 15),
            audit_checkpoint_entries=_int_env("MINGBAI_AUDIT_CHECKPOINT_ENTRIES", 10_000),
            vault_pending_minutes=_int_env("MINGBAI_VAULT_PENDING_MINUTES", 30),
            vault_approval_minutes=_int_env("MINGBAI_VAULT_APPROVAL_MINUTES", 15),
            vault_export_approvers=_int_env("MINGBAI_VAULT_EXPORT_APPROVERS", 2),
            vault_break_glass_roles=os.environ.get("MINGBAI_VAULT_BREAK_GLASS_ROLES", "supervisor"),
            vault_number=os.environ.get("MINGBAI_VAULT_NUMBER", "10086007"),
        )

    def __post_init__(self) -> None:
        if self.secure_cookies not in ("auto", "always", "never"):
            raise ValueError(f"MINGBAI_SECURE_COOKIES must be auto, always or never, got {self.secure_cookies!r}")
        if self.audit_checkpoint_minutes < 0 or self.audit_checkpoint_entries < 0:
            raise ValueError("MINGBAI_AUDIT_CHECKPOINT_MINUTES and _ENTRIES must not be negative")
        if not 1 <= self.vault_pending_minutes <= 24 * 60 or not 1 <= self.vault_approval_minutes <= 24 * 60:
            raise ValueError("MINGBAI_VAULT_PENDING_MINUTES and MINGBAI_VAULT_APPROVAL_MINUTES must be from 1 to 1440")
        if self.vault_export_approvers not in (1, 2):
            raise ValueError(f"MINGBAI_VAULT_EXPORT_APPROVERS must be 1 or 2, got {self.vault_export_approvers}")
        if not 1 <= self.billing_workers <= 64:
            raise ValueError(f"MINGBAI_BILLING_WORKERS must be from 1 to 64, got {self.billing_workers}")
        if not 1 <= self.max_use_quantity <= 1_000_000:
            raise ValueError(f"MINGBAI_MAX_USE_QUANTITY must be from 1 to 1000000, got {self.max_use_quantity}")
        if not 1 <= self.max_charge_fen <= 2**31 - 1:
            raise ValueError(f"MINGBAI_MAX_CHARGE_FEN must be from 1 to {2**31 - 1}, got {self.max_charge_fen}")
        for name, value in (
            ("MINGBAI_MAX_BODY_BYTES", self.max_body_bytes),
            ("MINGBAI_MAX_IMPORT_BYTES", self.max_import_bytes),
        ):
            if value < 1024:
                raise ValueError(f"{name} must be at least 1024, got {value}")
