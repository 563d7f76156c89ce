"""Sealing one-time codes: AES-GCM under keys from settings, rotatable (issue 12)."""

from __future__ import annotations

import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mingbai.config import Settings
from mingbai.sealing import REDACTED, SealError, new_key_line, sealer

KEY = new_key_line("k1")


def test_seal_and_open_and_leave_other_texts_alone():
    s = sealer((new_key_line("a1"),), "")
    sealed = s.seal("您的验证码123456")
    assert sealed.startswith("sealed:a1:") and "123456" not in sealed
    assert s.seal("您的验证码123456") != sealed  # a fresh nonce each time
    assert s.open(sealed) == "您的验证码123456"
    assert s.open(REDACTED) == REDACTED and s.open("plain") == "plain"


def test_rotation_newest_seals_all_open_and_a_dropped_key_is_named():
    old, new = new_key_line("old"), new_key_line("new")
    before = sealer((old,), "").seal("验证码111111")
    rotated = sealer((new, old), "")
    assert rotated.open(before) == "验证码111111"
    assert rotated.seal("x").startswith("sealed:new:")
    with pytest.raises(SealError, match="'old'"):
        sealer((new,), "").open(before)


def test_a_changed_text_does_not_open():
    s = sealer((new_key_line("k1"),), "")
    sealed = s.seal("验证码222222")
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealError):
        s.open(tampered)


@pytest.mark.parametrize(
    "entry, message",
    [
        (("nokey",), "id:base64"),
        (("k1:not-base64!",), "not base64"),
        (("k1:AAAA",), "32 bytes"),
        ((KEY, KEY), "twice"),
    ],
)
def test_bad_keys_are_refused_clearly(entry, message):
    with pytest.raises(SealError, match=message):
        sealer(entry, "")


def test_without_keys_a_private_key_file_is_made_once_and_reused(tmp_path):
    path = tmp_path / "var" / "secret.key"
    settings = Settings(database_url="sqlite://", secret_key_file=str(path))
    sealed = settings.sealer.seal("验证码333333")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    sealer.cache_clear()
    assert Settings(database_url="sqlite://", secret_key_file=str(path)).sealer.open(sealed) == "验证码333333"
    assert path.read_text() == first


def test_settings_read_keys_and_demo_from_the_environment(monkeypatch):
    a, b = new_key_line("a"), new_key_line("b")
    monkeypatch.setenv("MINGBAI_SECRET_KEYS", f"{a},{b}")
    monkeypatch.setenv("MINGBAI_DEMO", "1")
    settings = Settings.from_env()
    assert settings.secret_keys == (a, b) and settings.demo
    assert [k for k, _ in settings.sealer.keys] == ["a", "b"]
    monkeypatch.delenv("MINGBAI_DEMO")
    assert not Settings.from_env().demo


def test_keys_are_set_up_once_per_sealer_not_per_text(monkeypatch):
    """Sealing or opening a text, or making a code's MAC, does not set a key up again each time."""
    import mingbai.sealing as sealing

    made = []
    real = sealing.AESGCM

    def counting(key: bytes) -> object:
        made.append(key)
        return real(key)

    keys = sealing._parse([new_key_line("new"), new_key_line("old")], "test")
    monkeypatch.setattr(sealing, "AESGCM", counting)
    s = sealing.Sealer(keys)
    texts = [s.seal(f"验证码{i:06d}") for i in range(5)]
    assert [s.open(t) for t in texts] == [f"验证码{i:06d}" for i in range(5)]
    assert len(made) == 2  # one cipher per key
    first = s.mac_key("order-code")
    assert s.mac_key("order-code") is first and s.mac_key("login-code") != first
    assert sealing.Sealer(s.keys).mac_key("order-code") == first  # the same keys make the same MAC key


# -- opaque references (staff pages name a subscriber by one, not by the number) ------------------


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=30), other=st.text(min_size=1, max_size=30))
def test_a_reference_opens_to_its_text_for_its_purpose_only(text, other):
    s = sealer((new_key_line("r1"),), "")
    ref = s.reference(text, "page")
    assert s.open_reference(ref, "page") == text
    assert s.reference(text, "page") == ref  # stable: the same link each time
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in ref)  # URL-safe as it is
    if len(text) >= 8:
        assert text not in ref
    with pytest.raises(SealError):
        s.open_reference(ref, "another page")
    if other != text:
        assert s.reference(other, "page") != ref


def test_a_forged_altered_or_foreign_reference_does_not_open():
    s = sealer((new_key_line("r1"),), "")
    ref = s.reference("13800138000", "page")
    kid, _, body = ref.partition(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    for bad in (
        f"{kid}.{flipped}",
        f"{kid}.{body[:-4]}",
        "r1.",
        "r1",
        "x9." + body,
        "13800138000",
        "r1.%%%",
        "r1.\x00",
    ):
        with pytest.raises(SealError):
            s.open_reference(bad, "page")
    with pytest.raises(SealError):  # another deployment's key
        sealer((new_key_line("r1"),), "").open_reference(ref, "page")


def test_references_survive_a_key_rotation():
    old, new = new_key_line("old"), new_key_line("new")
    ref = sealer((old,), "").reference("13800138000", "page")
    rotated = sealer((new, old), "")
    assert rotated.open_reference(ref, "page") == "13800138000"
    assert rotated.reference("13800138000", "page").startswith("new.")
