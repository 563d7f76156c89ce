"""Capabilities do not import the consoles (issue 11, move 4): the consoles read capabilities,
and the composition root (web/app.py) registers what they show. Only a capability's HTTP edge
(``api.py``) may use ``mingbai.web`` (its ``require`` dependencies)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mingbai"
CAPABILITIES = ("accounts", "auth", "campaigns", "catalog", "charging", "messaging", "spam", "subscriptions", "vault")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_capabilities_do_not_import_consoles_or_web() -> None:
    bad = []
    for cap in CAPABILITIES:
        for path in (SRC / cap).rglob("*.py"):
            for name in _imports(path):
                if name.startswith("mingbai.consoles") or (name.startswith("mingbai.web") and path.name != "api.py"):
                    bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert bad == []
