"""Fixtures for the tests through Jasmin: one upstream SMSC and one Jasmin for the whole test
session (started once, configured with jcli, its process group killed at the end), and per test a
Mingbai platform whose SMPP gateway is bound to Jasmin as an SMPP user.

All tests here are in the xdist group ``jasmin`` (``pytestmark`` in each module) (scripts/test runs ``--dist loadgroup``), so one
worker starts one Jasmin; another run on the same machine gets its own (harness.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from mingbai.catalog.service import import_catalog
from mingbai.clock import FixedClock
from mingbai.demo import DEMO_CATALOG
from tests.jasmin.harness import Jasmin
from tests.smpp.conftest import SmppRig, smpp_config
from tests.smpp.smsc import FakeSmsc, Policy


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeSmsc]:
    """The SMSC behind Jasmin (Jasmin's client connector binds to it as ``jasmin``)."""
    s = FakeSmsc(policy=Policy(), id_prefix=f"J{secrets.token_hex(3).upper()}-").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def jasmin(upstream: FakeSmsc) -> Iterator[Jasmin]:
    j = Jasmin(upstream.port)
    j.start()
    try:
        deadline = time.monotonic() + 30
        while not any(e.system_id == "jasmin" for e in upstream.sessions.values()):
            if time.monotonic() > deadline:
                raise AssertionError(f"Jasmin's connector never bound to the upstream SMSC:\n{j.logs()}")
            time.sleep(0.1)
        yield j
    finally:
        j.stop()


@pytest.fixture
def via_jasmin(
    pg_url: str, clock: FixedClock, jasmin: Jasmin, upstream: FakeSmsc, request: pytest.FixtureRequest
) -> Iterator[SmppRig]:
    """Mingbai (outbox on PostgreSQL) bound to Jasmin as SMPP user ``mingbai``."""
    upstream.reset()
    rig = SmppRig(pg_url, clock, smpp_config(jasmin.smpp_port, system_id=jasmin.user, password=jasmin.password))
    with rig.platform.uow() as ctx:
        import_catalog(ctx, DEMO_CATALOG)
    rig.start()
    try:
        rig.wait_bound(timeout=20)
        yield rig
    finally:
        rig.stop()
        rig.platform.db.engine.dispose()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"--- Jasmin logs\n{jasmin.logs()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, "rep_" + rep.when, rep)
