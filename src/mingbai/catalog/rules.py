"""Pure catalog rules: vocabularies, price wording and the import document's shape."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from mingbai.catalog.packages import PACKAGES, find_package
from mingbai.errors import InvalidInput
from mingbai.msisdn import normalize_msisdn
from mingbai.text import unstorable

Billing = Literal["monthly", "per_use", "free"]
ServiceType = Literal["sms", "mms", "wap", "kjava", "pda", "animation", "voice", "other"]
Brand = Literal["gotone", "mzone", "easyown", "other"]
Status = Literal["active", "suspended"]

SERVICE_TYPE_ZH: dict[str, str] = {
    "sms": "短信",
    "mms": "彩信",
    "wap": "WAP",
    "kjava": "百宝箱",
    "pda": "PDA",
    "animation": "手机动画",
    "voice": "语音",
    "other": "",
}
#: what people write for a service type: any case of the code, or its Chinese name (the seeds
#: write SMS/MMS/WAP in capitals and 短信, 彩信, 百宝箱, 手机动画)
_TYPE_ALIASES = {v.lower(): k for k, v in SERVICE_TYPE_ZH.items() if v} | {
    "其他": "other",
    "java": "kjava",
    "k-java": "kjava",
    "动画": "animation",
    "手机游戏": "kjava",
    "彩信业务": "mms",
    "短信业务": "sms",
}
BRAND_ZH: dict[str, str] = {"gotone": "全球通", "mzone": "动感地带", "easyown": "神州行", "other": "其他"}
_BRAND_ALIASES = {v: k for k, v in BRAND_ZH.items()} | {"m-zone": "mzone", "go tone": "gotone"}

_CODE = re.compile(r"[A-Za-z0-9_\-]{1,32}")
_PHONE = re.compile(r"[0-9\-]{3,20}")


def yuan(fen: int, *, cents: bool = False) -> str:
    """Fen to yuan, the one place it is done: as a reminder says it (3000 → "30", 250 → "2.5",
    5 → "0.05"), or with ``cents`` as a price list shows it (3000 → "30.00", 250 → "2.50")."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    if cents:
        return f"{sign}{whole}.{part:02d}"
    if part == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{part:02d}".rstrip("0")


def yuan_sql(column: str) -> str:
    """:func:`yuan` in portable SQL, for set-based statements that write texts (the monthly
    deduction reminders), over a column of non-negative fen."""
    c = column
    return f"""CASE
  WHEN {c} % 100 = 0 THEN CAST({c} / 100 AS TEXT)
  WHEN {c} % 10 = 0 THEN CAST({c} / 100 AS TEXT) || '.' || CAST({c} % 100 / 10 AS TEXT)
  WHEN {c} % 100 < 10 THEN CAST({c} / 100 AS TEXT) || '.0' || CAST({c} % 100 AS TEXT)
  ELSE CAST({c} / 100 AS TEXT) || '.' || CAST({c} % 100 AS TEXT) END"""


def price_text(billing: str, price_fen: int) -> str:
    """信息费30元/月 — the wording R4's templates use."""
    if billing == "free" or price_fen == 0:
        return "免费"
    unit = "月" if billing == "monthly" else "条"
    return f"信息费{yuan(price_fen)}元/{unit}"


def service_label(sp_name: str, service_name: str, service_type: str) -> str:
    """新浪提供的头条新闻短信业务 — how every reminder names a service."""
    return f"{sp_name}提供的{service_name}{SERVICE_TYPE_ZH.get(service_type, '')}业务"


def reminder_label(sp_name: str, service_name: str, service_type: str, billing: str, price_fen: int) -> str:
    """One line of the monthly reminder list, precomputed so the reminder pass stays set-based."""
    return f"{service_label(sp_name, service_name, service_type)},{price_text(billing, price_fen)}"


def _check_code(v: str) -> str:
    if not _CODE.fullmatch(v):
        raise ValueError("letters, digits, '-' or '_' only")
    return v


#: an SP or service code, as operators and SPs type it
Code = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_check_code)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # the same refusal on SQLite as on PostgreSQL (which cannot hold a NUL at all)
        if isinstance(value, str) and (why := unstorable(value)):
            raise ValueError(why)
        return value


class SpIn(_In):
    code: Code
    name: str = Field(min_length=1, max_length=64)
    hotline: str = Field(min_length=3, max_length=20)
    contact: str | None = Field(default=None, max_length=64)
    access_number: str | None = Field(default=None, max_length=21)
    status: Status = "active"
    credit_points: StrictInt = Field(default=100, ge=0, le=1000)

    @field_validator("hotline")
    @classmethod
    def _hotline(cls, v: str) -> str:
        if not _PHONE.fullmatch(v):
            raise ValueError("a phone number: digits and '-'")
        return v

    @field_validator("access_number")
    @classmethod
    def _access(cls, v: str | None) -> str | None:
        if v is not None and not v.isdigit():
            raise ValueError("digits only")
        return v


class ServiceIn(_In):
    code: Code
    sp: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    type: ServiceType = "sms"
    billing: Billing
    price_fen: StrictInt = Field(ge=0, le=100_000)
    description: str | None = Field(default=None, max_length=500)
    attributes: dict[str, Any] | None = None
    scope: Literal["national", "local"] = "national"
    status: Status = "active"
    mo_keyword: str | None = Field(default=None, max_length=20)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: object) -> object:
        if isinstance(v, str):
            key = v.strip().lower()
            return _TYPE_ALIASES.get(key, key)
        return v

    @field_validator("mo_keyword")
    @classmethod
    def _keyword(cls, v: str | None) -> str | None:
        return v.upper() if v else None


class SubscriberIn(_In):
    msisdn: str
    brand: Brand = "other"
    province: str = Field(min_length=1, max_length=16)
    city: str | None = Field(default=None, max_length=32)
    package: str | None = Field(default=None, max_length=64)
    status: Literal["active", "suspended", "closed"] = "active"

    @field_validator("msisdn")
    @classmethod
    def _msisdn(cls, v: str) -> str:
        return normalize_msisdn(v)

    @field_validator("package")
    @classmethod
    def _package(cls, v: str | None) -> str | None:
        # the package must be one `activate` and the advisor know, or it fails only later
        if v is None or not v.strip():
            return None
        package = find_package(v) or next((p for p in PACKAGES if p.name == v.strip()), None)
        if package is None:
            known = ", ".join(p.code for p in PACKAGES)
            raise ValueError(f"unknown package {v!r} (known: {known}; see `mingbai billing packages`)")
        return package.code

    @field_validator("brand", mode="before")
    @classmethod
    def _brand(cls, v: object) -> object:
        if isinstance(v, str):
            key = v.strip().lower()
            return _BRAND_ALIASES.get(v.strip(), _BRAND_ALIASES.get(key, key))
        return v


class CatalogDocument(BaseModel):
    sps: list[SpIn]
    services: list[ServiceIn]
    subscribers: list[SubscriberIn]


def _first_error(exc: ValidationError) -> str:
    """``.price_fen: Input should be …`` — appended to the record's position."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f".{where}: {msg}" if where else f": {msg}"


def parse_catalog_document(doc: object) -> CatalogDocument:
    """Validate a whole import document; the first bad record is reported with its position.

    Positions read like ``services[3].price_fen`` so an operator can find the record.
    Duplicate codes inside one document are errors too: the import is all or nothing.
    """
    if not isinstance(doc, dict):
        raise InvalidInput("catalog document must be a JSON object with sps, services, subscribers")
    unknown = set(doc) - {"sps", "services", "subscribers"}
    if unknown:
        raise InvalidInput(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    out: dict[str, list[Any]] = {"sps": [], "services": [], "subscribers": []}
    models: dict[str, type[_In]] = {"sps": SpIn, "services": ServiceIn, "subscribers": SubscriberIn}
    for key, model in models.items():
        records = doc.get(key, [])
        if not isinstance(records, list):
            raise InvalidInput(f"{key} must be a list")
        seen: dict[str, int] = {}
        for i, record in enumerate(records):
            try:
                item = model.model_validate(record)
            except ValidationError as exc:
                raise InvalidInput(f"{key}[{i}]{_first_error(exc)}", code="bad_record") from None
            except InvalidInput as exc:
                raise InvalidInput(f"{key}[{i}].msisdn: {exc.message}", code="bad_record") from None
            ident = str(getattr(item, "code", None) or getattr(item, "msisdn", ""))
            if ident in seen:
                raise InvalidInput(f"{key}[{i}]: duplicate of {key}[{seen[ident]}] ({ident})", code="bad_record")
            seen[ident] = i
            out[key].append(item)
    return CatalogDocument(sps=out["sps"], services=out["services"], subscribers=out["subscribers"])
