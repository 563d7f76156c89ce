"""Schemathesis over every operation × every role's key: counts server errors and schema violations.

Used by tests/integration/test_openapi_fuzz.py (bounded, in CI) and runnable on its own for the
figures of issue 12: ``python -m tests.fuzz_probe [examples per operation and mode]``.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mingbai.auth.service import create_key
from mingbai.platform import Platform
from mingbai.web.app import create_app

KEYS = {
    "sp": ("SINA", "fz-sp"),
    "agent": (None, "fz-agent"),
    "operator": (None, "fz-op"),
    "smsc": (None, "fz-smsc"),
    "reviewer": (None, "fz-rev"),
}

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Figures:
    operations: int = 0
    roles: int = len(KEYS)
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def summary(self) -> str:
        return (
            f"{self.operations} operations x {self.roles} roles, {self.requests} requests, "
            f"{len(self.server_errors)} server errors, {len(self.violations)} schema violations"
        )


def create_keys(platform: Platform) -> None:
    with platform.uow() as ctx:
        for role, (sp, key) in KEYS.items():
            create_key(ctx, role=role, label=key, sp_code=sp, key=key)


def probe(platform: Platform, *, examples: int, seed: int | None = None) -> Figures:
    create_keys(platform)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
    operations = [result.ok() for result in schema.get_all_operations()]
    figures = Figures(operations=len(operations))
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_one(operation, mode, examples, seed, figures)
    return figures


def _fuzz_one(operation: Any, mode: GenerationMode, examples: int, seed: int | None, figures: Figures) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        for role, (_, key) in KEYS.items():
            response = case.call(headers={"X-API-Key": key})
            figures.requests += 1
            figures.statuses[response.status_code] += 1
            label = f"{case.method} {case.path} [{role}, {mode.value}] -> {response.status_code}"
            if response.status_code >= 500:
                figures.server_errors.append(f"{label}: {response.text[:200]}")
                continue
            if mode is GenerationMode.NEGATIVE and response.status_code < 400:
                continue  # negative data a lenient parser accepted: not a conformance question
            try:
                case.validate_response(response, checks=CONFORMANCE, headers={"X-API-Key": key})
            except BaseExceptionGroup as exc:  # schemathesis's FailureGroup: one or more failed checks
                figures.violations.append(f"{label}: {_first_failure(exc)}")

    if seed is not None:
        from hypothesis import seed as hseed

        run = hseed(seed)(run)
    run()


def _first_failure(group: BaseExceptionGroup[Any]) -> str:
    failure = group.exceptions[0]
    return f"{getattr(failure, 'title', type(failure).__name__)}: {str(failure).splitlines()[0][:160]}"


def main() -> None:
    import tempfile
    from datetime import datetime
    from pathlib import Path

    from mingbai.catalog.service import import_catalog
    from mingbai.clock import SHANGHAI, FixedClock
    from mingbai.config import Settings
    from mingbai.demo import DEMO_CATALOG
    from mingbai.messaging.gateways import LoopbackGateway
    from mingbai.migrate import upgrade

    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{Path(tempfile.mkdtemp()) / 'fuzz.db'}"
    upgrade(url)
    clock = FixedClock(datetime(2026, 4, 10, 10, 0, tzinfo=SHANGHAI))
    p = Platform(Settings(database_url=url, code_secret="fuzz"), clock=clock, gateway=LoopbackGateway())
    with p.uow() as ctx:
        import_catalog(ctx, DEMO_CATALOG)
    figures = probe(p, examples=examples, seed=12)
    for line in figures.server_errors:
        print("5xx", line)
    for line in figures.violations:
        print("schema", line)
    print(dict(sorted(figures.statuses.items())))
    print(figures.summary())


if __name__ == "__main__":
    main()
