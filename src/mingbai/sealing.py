"""Texts that must not rest in clear: one-time codes on their way to a phone (issue 12).

An outbox row whose kind carries a code (:data:`CODE_KINDS`: the order confirmation request,
the console sign-in code) is written *sealed* — AES-256-GCM under a key that is not in the
database — opened only by a gateway as it submits the row, and *redacted* (its text replaced
by :data:`REDACTED`) once the row is final or the code's lifetime is over. Anyone with the
database, a backup or the CLI then holds no code they could use to confirm an order or sign in
as a subscriber.

Keys come from settings: ``MINGBAI_SECRET_KEYS`` = ``id:base64key[,id:base64key…]``, newest
first. The newest seals; every listed key opens, so a key is rotated by putting a new one in
front and dropping the old one once no row sealed with it is left (codes live minutes). Without
the variable a key file is used (``MINGBAI_SECRET_KEY_FILE``, default ``var/secret.key``,
made on first use, mode 0600): enough for a single machine, the demo and tests.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: outbox kinds whose text carries a one-time code
CODE_KINDS = frozenset({"confirmation_request", "login_code", "vault_code"})
#: what a code-bearing row's text becomes once the code no longer needs to travel
REDACTED = "[含验证码的短信,内容已清除]"
#: a sealed text starts so; the rest is ``<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``
PREFIX = "sealed:"
#: the SQL condition for rows still holding a sealed text (the partial index ix_sms_outbox_sealed)
SEALED_SQL = "text LIKE 'sealed:%'"


class SealError(ValueError):
    """A key is malformed or missing, or a sealed text does not open (tampered, wrong key)."""


def is_sealed(text: str) -> bool:
    return text.startswith(PREFIX)


def new_key_line(key_id: str | None = None) -> str:
    """A fresh ``id:base64key`` entry for ``MINGBAI_SECRET_KEYS`` or the key file."""
    kid = key_id or "k" + secrets.token_hex(4)
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def _parse(entries: list[str], source: str) -> tuple[tuple[str, bytes], ...]:
    keys: list[tuple[str, bytes]] = []
    for entry in entries:
        kid, sep, b64 = entry.strip().partition(":")
        if not sep or not kid or not kid.isalnum():
            raise SealError(f"{source}: each key is id:base64 (id of letters and digits), got {entry.strip()[:12]!r}…")
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except binascii.Error as exc:
            raise SealError(f"{source}: key {kid!r} is not base64") from exc
        if len(key) != 32:
            raise SealError(f"{source}: key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
        if any(k == kid for k, _ in keys):
            raise SealError(f"{source}: key id {kid!r} appears twice")
        keys.append((kid, key))
    if not keys:
        raise SealError(f"{source}: no key")
    return tuple(keys)


def _key_file(path: Path) -> list[str]:
    """The key file's entries; made with one fresh key when absent (never overwritten)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key_line("dev1") + "\n")
        # link, not rename: of two processes making the file at once, the first one wins
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class Sealer:
    #: (key id, 32-byte key), newest first: the first seals, all open
    keys: tuple[tuple[str, bytes], ...]

    @functools.cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        """Each key's cipher, set up once per sealer (a sealer lives as long as its settings),
        not once per text sealed or opened."""
        return {kid: AESGCM(key) for kid, key in self.keys}

    def seal(self, text: str) -> str:
        kid = self.keys[0][0]
        nonce = os.urandom(12)
        blob = nonce + self._ciphers[kid].encrypt(nonce, text.encode(), kid.encode())
        return f"{PREFIX}{kid}:{base64.b64encode(blob).decode()}"

    @functools.cached_property
    def _mac_keys(self) -> dict[str, bytes]:
        return {}  # purpose -> derived key, filled by mac_key: derived once per sealer, not per code

    def mac_key(self, purpose: str) -> bytes:
        """A key for a code's MAC (order codes, sign-in codes), derived from the key listed last.

        Not in the database: with a MAC and its key side by side, a 6-digit code is found by
        trying a million. The last key, so putting a new key in front leaves pending codes
        valid; drop the last one only when no code made with it is still pending (minutes)."""
        key = self._mac_keys.get(purpose)
        if key is None:
            key = hmac.new(self.keys[-1][1], b"mingbai code mac:" + purpose.encode(), hashlib.sha256).digest()
            self._mac_keys[purpose] = key
        return key

    def reference(self, text: str, purpose: str) -> str:
        """An opaque, URL-safe reference to ``text`` (a subscriber's number in a staff page's
        links): AES-GCM under the newest key, its nonce derived from the text (the same text gets
        the same reference, so links stay stable) and ``purpose`` bound in, so a reference made
        for one use does not open as another. ``<key id>.<base64url>``, no padding."""
        kid, key = self.keys[0]
        nonce = hmac.new(key, b"mingbai ref nonce:" + purpose.encode() + b":" + text.encode(), hashlib.sha256).digest()[
            :12
        ]
        blob = nonce + self._ciphers[kid].encrypt(nonce, text.encode(), f"{kid}:{purpose}".encode())
        return f"{kid}.{base64.urlsafe_b64encode(blob).decode().rstrip('=')}"

    def open_reference(self, ref: str, purpose: str) -> str:
        """The text behind a :meth:`reference`; SealError for anything else (a forged, altered
        or truncated reference, one made for another purpose, or under a dropped key)."""
        kid, _, b64 = ref.partition(".")
        cipher = self._ciphers.get(kid)
        if cipher is None or not b64:
            raise SealError("not a reference")
        try:
            blob = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            return cipher.decrypt(blob[:12], blob[12:], f"{kid}:{purpose}".encode()).decode()
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise SealError("not a reference") from exc

    def open(self, stored: str) -> str:
        """The clear text of a sealed text; any other text as it is (redacted, or not a code)."""
        if not is_sealed(stored):
            return stored
        kid, _, b64 = stored[len(PREFIX) :].partition(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SealError(f"no key {kid!r} to open a sealed text: was it dropped from MINGBAI_SECRET_KEYS too early?")
        try:
            blob = base64.b64decode(b64, validate=True)
            return cipher.decrypt(blob[:12], blob[12:], kid.encode()).decode()
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise SealError(f"a text sealed with key {kid!r} does not open (altered?)") from exc


@functools.lru_cache(maxsize=16)
def sealer(secret_keys: tuple[str, ...], key_file: str) -> Sealer:
    """The sealer for these settings (``Settings.secret_keys``, ``Settings.secret_key_file``)."""
    if secret_keys:
        return Sealer(_parse(list(secret_keys), "MINGBAI_SECRET_KEYS"))
    return Sealer(_parse(_key_file(Path(key_file)), key_file))
