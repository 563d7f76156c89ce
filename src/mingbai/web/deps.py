"""Dependencies every route uses: the platform, a unit of work, and the caller's role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader

from mingbai.audit import service as audit
from mingbai.auth.service import KEY_ROLES, Principal, Role, authenticate
from mingbai.db import Ctx
from mingbai.errors import Forbidden, MingbaiError
from mingbai.ids import MAX_ID
from mingbai.messaging.inbound import MoIntake
from mingbai.platform import Platform

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Per-SP or staff API key")


class Unauthorized(MingbaiError):
    status_code = 401
    code = "unauthorized"


def get_platform(request: Request) -> Platform:
    platform = request.app.state.platform
    assert isinstance(platform, Platform)
    return platform


def get_intake(platform: Annotated[Platform, Depends(get_platform)]) -> MoIntake:
    """Where the SMS centre's hook hands MOs (the messaging intake, not the whole platform)."""
    return platform.intake


def get_ctx(platform: Annotated[Platform, Depends(get_platform)]) -> Iterator[Ctx]:
    """One unit of work per request: committed if the route returns, rolled back if it raises.

    Used with ``scope="function"`` (:data:`CtxDep`): the commit happens when the route function
    returns and *before* the response is sent, so a client never sees a 2xx for a write that is
    not yet (or never) in the database; a failing commit is the request's error."""
    with platform.uow() as ctx:
        yield ctx


def require(*roles: Role) -> Callable[..., Principal]:
    """Declare which roles may call a route; the role matrix is readable from the route list."""
    allowed = frozenset(roles)

    def dependency(
        platform: Annotated[Platform, Depends(get_platform)],
        key: Annotated[str | None, Security(api_key_header)] = None,
    ) -> Principal:
        if not key:
            raise Unauthorized("send your API key in the X-API-Key header")
        principal = platform.key_cache.lookup(key, lambda: _authenticate(platform, key))
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role.value} may not do this")
        return principal

    dependency.__name__ = "require_" + "_".join(sorted(r.value for r in allowed))
    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    return dependency


def viewed(ctx: Ctx, who: Principal, msisdn: str, what: str) -> None:
    """A staff (or SP) key read a subscriber's data: an audit entry in the read's own unit of
    work, so the data is not returned when the entry cannot be written (fail closed)."""
    audit.record_staff(ctx, actor=who.actor, action="subscriber.view", subject_msisdn=msisdn, detail={"what": what})


def _authenticate(platform: Platform, key: str) -> Principal | None:
    with platform.uow() as ctx:
        return authenticate(ctx, key)


CtxDep = Annotated[Ctx, Depends(get_ctx, scope="function")]
#: an id in a URL: anything outside BIGINT is a 422 here, never an overflow in the driver
RowId = Annotated[int, Path(ge=0, le=MAX_ID)]


#: the composition root, for the few routes that start long work (billing runs, the live spam filter)
PlatformDep = Annotated[Platform, Depends(get_platform)]


#: how a caller authenticated: its principal and ``session`` or ``key``
StaffCaller = tuple[Principal, str]


def require_staff(*roles: Role, key_roles: frozenset[Role] | None = None) -> Callable[..., StaffCaller]:
    """Like :func:`require`, for routes that staff reach from a console page as well as with an
    API key: an ``X-API-Key`` of a role in ``key_roles`` (default: every allowed role that may
    hold a key), or a console session cookie — then an unsafe method must carry the page's CSRF
    token in ``X-CSRF-Token``. Roles without keys (security) come only with a session."""
    allowed = frozenset(roles)
    by_key = allowed & (KEY_ROLES if key_roles is None else key_roles)

    def dependency(
        request: Request,
        platform: Annotated[Platform, Depends(get_platform)],
        key: Annotated[str | None, Security(api_key_header)] = None,
    ) -> StaffCaller:
        from mingbai.accounts.service import load_session
        from mingbai.consoles.security import SESSION_COOKIE, check_csrf, read_cookie

        if key:
            principal = platform.key_cache.lookup(key, lambda: _authenticate(platform, key))
            if principal is None:
                raise Unauthorized("unknown or revoked API key")
            if principal.role not in by_key:
                raise Forbidden(f"role {principal.role.value} may not do this with an API key")
            return principal, "key"
        token = read_cookie(request, SESSION_COOKIE)
        if not token:
            raise Unauthorized("send your API key in the X-API-Key header, or sign in on a console")
        with platform.uow() as ctx:
            info = load_session(ctx, token)
        if info is None:
            raise Unauthorized("the session has ended; sign in again")
        if info.principal.role not in allowed:
            raise Forbidden(f"role {info.principal.role.value} may not do this")
        check_csrf(request, None)
        return info.principal, "session"

    dependency.__name__ = "require_staff_" + "_".join(sorted(r.value for r in allowed))
    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    return dependency


# the roles' aliases the capabilities' routes share (a capability keeps only its own combinations)
#: the front line: agents (10086) and business-hall clerks
FrontLine = Annotated[Principal, Depends(require(Role.AGENT, Role.HALL))]
#: staff who read a subscriber's affairs: the front line and operators
Staff = Annotated[Principal, Depends(require(Role.AGENT, Role.HALL, Role.OPERATOR))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
#: a service provider, who sees only its own (``who.sp_code``)
SpOnly = Annotated[Principal, Depends(require(Role.SP))]
