"""Demo catalog and subscribers for the embedded default (``mingbai seed demo``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingbai.auth.models import ApiKey
from mingbai.auth.service import create_key
from mingbai.catalog.service import ImportReport, import_catalog
from mingbai.db import Ctx
from mingbai.vault.service import seed_demo_records

DEMO_CATALOG: dict[str, Any] = {
    "sps": [
        {"code": "SINA", "name": "新浪", "hotline": "9510567", "contact": "新浪无线客服", "access_number": "10668888"},
        {
            "code": "TENCENT",
            "name": "腾讯公司",
            "hotline": "4006700700",
            "contact": "腾讯客服",
            "access_number": "10661700",
        },
        {"code": "SOHU", "name": "搜狐", "hotline": "4008806699", "contact": "搜狐客服", "access_number": "10665566"},
    ],
    "services": [
        {
            "code": "SINA-NEWS",
            "sp": "SINA",
            "name": "头条新闻",
            "type": "sms",
            "billing": "monthly",
            "price_fen": 500,
            "mo_keyword": "XW",
            "description": "每日两条新闻早晚报",
        },
        {
            "code": "SINA-WEATHER",
            "sp": "SINA",
            "name": "天气预报",
            "type": "sms",
            "billing": "monthly",
            "price_fen": 200,
            "mo_keyword": "TQ",
            "description": "每日天气预报",
        },
        {
            "code": "QQ-TONES",
            "sp": "TENCENT",
            "name": "精品图铃",
            "type": "wap",
            "billing": "monthly",
            "price_fen": 300,
            "mo_keyword": "TL",
            "description": "WAP图片铃声下载",
        },
        {
            "code": "QQ-GAME",
            "sp": "TENCENT",
            "name": "手机游戏点播",
            "type": "kjava",
            "billing": "per_use",
            "price_fen": 200,
            "mo_keyword": "YX",
            "description": "百宝箱游戏,按次下载",
        },
        {
            "code": "SOHU-TRAFFIC",
            "sp": "SOHU",
            "name": "交警信息",
            "type": "sms",
            "billing": "free",
            "price_fen": 0,
            "mo_keyword": "JJ",
            "description": "路况与违章提醒",
        },
        {
            "code": "SOHU-MMS",
            "sp": "SOHU",
            "name": "彩信杂志",
            "type": "mms",
            "billing": "monthly",
            "price_fen": 1000,
            "mo_keyword": "ZZ",
            "description": "每周彩信杂志",
        },
    ],
    "subscribers": [
        {"msisdn": "13800138000", "brand": "gotone", "province": "湖南", "city": "长沙"},
        {"msisdn": "13900139000", "brand": "mzone", "province": "湖南", "city": "株洲"},
        {"msisdn": "13700137000", "brand": "easyown", "province": "湖南", "city": "湘潭"},
        {"msisdn": "15800158000", "brand": "mzone", "province": "新疆", "city": "乌鲁木齐"},
        {"msisdn": "18800188000", "brand": "gotone", "province": "北京", "city": "北京"},
    ],
}

#: demo-only keys, so the OpenAPI page at /docs can be tried at once; never in production data
DEMO_KEYS = [
    ("sp", "SINA demo key", "SINA", "demo-sp-sina"),
    ("sp", "TENCENT demo key", "TENCENT", "demo-sp-tencent"),
    ("agent", "demo-agent", None, "demo-agent"),
    ("hall", "demo-hall", None, "demo-hall"),
    ("operator", "demo-operator", None, "demo-operator"),
    ("reviewer", "demo-reviewer", None, "demo-reviewer"),
    ("smsc", "demo-smsc", None, "demo-smsc"),
]


def seed_demo(ctx: Ctx) -> tuple[ImportReport, list[tuple[str, str]]]:
    report = import_catalog(ctx, DEMO_CATALOG)
    existing = set(ctx.session.scalars(select(ApiKey.label)))
    made = []
    for role, label, sp, key in DEMO_KEYS:
        if label not in existing:
            create_key(ctx, role=role, label=label, sp_code=sp, key=key)
        made.append((label, key))
    # the vault's guarded stores: two weeks of CDRs and cell locations per subscriber (once)
    seed_demo_records(ctx)
    return report, made
