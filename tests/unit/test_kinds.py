"""One vocabulary of outbox and event kinds (issue 11, move 2): each kind has its labels in
both languages, and each is written by some writer."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from mingbai.consoles.i18n import EVENT_KINDS, LANGS, MESSAGE_KINDS, enum_translator
from mingbai.messaging.kinds import REMINDER_KINDS, MessageKind
from mingbai.subscriptions.events import EventKind

SRC = Path(__file__).resolve().parents[2] / "src" / "mingbai"
#: where the vocabularies are defined or only labelled, not written
NOT_WRITERS = {"messaging/kinds.py", "subscriptions/events.py", "consoles/i18n.py"}


def _sources() -> dict[str, str]:
    return {
        str(p.relative_to(SRC)): p.read_text(encoding="utf-8")
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts and str(p.relative_to(SRC)) not in NOT_WRITERS
    }


@pytest.mark.parametrize("kind", [*MessageKind, *EventKind], ids=str)
def test_every_kind_is_written_somewhere(kind: StrEnum) -> None:
    sources = _sources()
    member = re.compile(rf"\b{type(kind).__name__}\.{kind.name}\b")
    writers = [path for path, text in sources.items() if member.search(text)]
    assert writers, f"no writer of {type(kind).__name__}.{kind.name}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_kind_has_a_label_in_both_languages(lang: str) -> None:
    assert set(MESSAGE_KINDS) == set(MessageKind)
    assert set(EVENT_KINDS) == set(EventKind)
    tr = enum_translator(lang)
    for kind in MessageKind:
        assert tr("kind", kind) not in ("", str(kind))
    for event in EventKind:
        assert tr("event", event) not in ("", str(event))
    zh, en = (dict.fromkeys(MESSAGE_KINDS.values()), dict.fromkeys(EVENT_KINDS.values()))
    assert len(zh) == len(MESSAGE_KINDS) and len(en) == len(EVENT_KINDS)  # no two kinds share a label


def test_the_dashboard_counts_only_outbox_kinds() -> None:
    assert set(REMINDER_KINDS) <= set(MessageKind) and len(set(REMINDER_KINDS)) == len(REMINDER_KINDS)


def test_the_kinds_fit_their_columns() -> None:
    assert max(len(k) for k in MessageKind) <= 32  # sms_outbox.kind
    assert max(len(k) for k in EventKind) <= 32


def test_no_writer_spells_a_kind_as_a_literal() -> None:
    values = "|".join(re.escape(k) for k in [*MessageKind, *EventKind])
    keyword = re.compile(rf"""\bkind"?\s*[=:]\s*["']({values})["']""")  # kind="reply", "kind": "…"
    sql = re.compile(rf"'({'|'.join(re.escape(k) for k in MessageKind)})'")  # a literal in set-based SQL
    found = [
        f"{path}: {m.group(0)}" for path, text in _sources().items() for rx in (keyword, sql) for m in rx.finditer(text)
    ]
    assert found == []
