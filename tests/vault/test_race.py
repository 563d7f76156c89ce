"""Parallel approvals and uses on PostgreSQL (threads, real row locks): an approval is used
once, and two approvers racing on a two-approver export count both."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mingbai.errors import MingbaiError
from mingbai.platform import Platform
from mingbai.vault import service
from tests.helpers import ALICE
from tests.vault.conftest import TODAY, staff

THREADS = 8


def _race(platform: Platform, jobs: list[Callable[[Any], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))
    out: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with platform.uow() as ctx:
                out[i] = jobs[i](ctx)
        except MingbaiError as exc:
            out[i] = exc.code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_parallel_uses_use_an_approval_once(pg_staffed: Platform) -> None:
    p = pg_staffed
    agent, sec = staff(p, "agent"), staff(p, "security")
    for _ in range(3):
        with p.uow() as ctx:
            req = service.request_access(
                ctx,
                agent,
                operation="cdr",
                msisdn=ALICE,
                reason="并发测试核对",
                date_from=TODAY - timedelta(days=1),
                date_to=TODAY,
            )
        with p.uow() as ctx:
            service.approve(ctx, sec, req.id)
        got = _race(p, [lambda ctx, r=req.id: service.use(ctx, agent, r) for _ in range(THREADS)])
        wins = [g for g in got if isinstance(g, service.AccessResult)]
        assert len(wins) == 1 and sorted(g for g in got if isinstance(g, str)) == ["used"] * (THREADS - 1)
        with p.uow() as ctx:
            assert len(service.access_history(ctx, ALICE)) >= 1
    with p.uow() as ctx:
        assert len(service.access_history(ctx, ALICE)) == 3  # one access per approval, not per thread


def test_parallel_approve_and_use_cannot_use_twice_nor_before_approval(pg_staffed: Platform) -> None:
    p = pg_staffed
    agent, sec = staff(p, "agent"), staff(p, "security")
    with p.uow() as ctx:
        req = service.request_access(ctx, agent, operation="identity", msisdn=ALICE, reason="并发测试核对")
    jobs: list[Callable[[Any], Any]] = [lambda ctx: service.approve(ctx, sec, req.id)]
    jobs += [lambda ctx: service.use(ctx, agent, req.id) for _ in range(THREADS - 1)]
    got = _race(p, jobs)
    assert isinstance(got[0], service.RequestView)
    uses = got[1:]
    assert sum(isinstance(g, service.AccessResult) for g in uses) <= 1
    assert all(isinstance(g, service.AccessResult) or g in ("not_approved", "used") for g in uses)


def test_two_approvers_racing_on_an_export_both_count(pg_staffed: Platform) -> None:
    p = pg_staffed
    op, sec, sec2 = staff(p, "operator"), staff(p, "security"), staff(p, "security2")
    for _ in range(3):
        with p.uow() as ctx:
            req = service.request_access(
                ctx, op, operation="export", export={"of": "subscribers"}, reason="月度核查导出"
            )
        got = _race(p, [lambda ctx, who=who, r=req.id: service.approve(ctx, who, r) for who in (sec, sec2)])
        assert sorted(g.status for g in got) == ["approved", "pending"]
        with p.uow() as ctx:
            view = service.get_request(ctx, req.id)
        assert view.status == "approved" and view.approvals == 2
