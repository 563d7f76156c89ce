"""Demo staff accounts and real-name profiles for ``mingbai seed demo``.

Demo only: every password is ``mingbai-<username>`` (documented in docs/consoles.md) so a
reviewer can sign in at once. Never load this into production data.
"""

from __future__ import annotations

from sqlalchemy import select

from mingbai.accounts.models import StaffUser
from mingbai.accounts.service import create_user, save_profile, set_contact
from mingbai.db import Ctx

#: (username, role, display name, SP)
DEMO_USERS: list[tuple[str, str, str, str | None]] = [
    ("agent", "agent", "王坐席", None),
    ("hall", "hall", "李营业员", None),
    ("supervisor", "supervisor", "赵班长", None),
    ("operator", "operator", "钱运营", None),
    ("security", "security", "孙安全", None),
    ("security2", "security", "吴安全", None),
    ("auditor", "auditor", "周审计", None),
    ("sina", "sp", "新浪业务员", "SINA"),
    ("tencent", "sp", "腾讯业务员", "TENCENT"),
]

#: demo staff phones and units (vault codes and alerts reach the handset page at these numbers)
DEMO_CONTACTS = {
    "agent": ("13600000010", "长沙10086客服中心"),
    "hall": ("13600000011", "长沙五一路营业厅"),
    "supervisor": ("13600000012", "长沙10086客服中心"),
    "operator": ("13600000013", "湖南业务运营中心"),
    "security": ("13600000001", "湖南信息安全管理部"),
    "security2": ("13600000002", "湖南信息安全管理部"),
}

DEMO_PROFILES = [
    ("13800138000", "张三", "id_card", "430102199001011234"),
    ("13900139000", "李四", "id_card", "430203198512125678"),
    ("13700137000", "王小五", "id_card", "430304197803030011"),
    ("15800158000", "欧阳娜娜", "id_card", "650102200002022468"),
    ("18800188000", "John Smith", "passport", "E12345678"),
]


def demo_password(username: str) -> str:
    return f"mingbai-{username}"


def seed_demo_accounts(ctx: Ctx) -> list[tuple[str, str, str]]:
    """Create the demo users that do not exist yet; returns (username, role, password) of all."""
    existing = set(ctx.session.scalars(select(StaffUser.username)))
    for username, role, name, sp in DEMO_USERS:
        if username not in existing:
            create_user(
                ctx, username=username, role=role, display_name=name, password=demo_password(username), sp_code=sp
            )
            if username in DEMO_CONTACTS:
                phone, unit = DEMO_CONTACTS[username]
                set_contact(ctx, username=username, phone=phone, unit=unit)
    for msisdn, name, id_type, id_number in DEMO_PROFILES:
        save_profile(ctx, msisdn=msisdn, name=name, id_type=id_type, id_number=id_number)
    return [(u, r, demo_password(u)) for u, r, _, _ in DEMO_USERS]
