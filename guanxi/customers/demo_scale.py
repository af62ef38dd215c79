"""Demo data at scale (``guanxi demo --customers N``): realistic Chinese (and ~10% English) customers, fast.

People and companies (a third of the people are contacts at a generated company), valid Chinese mobiles (and some
landlines) with their carrier, emails, addresses, tags, owners among the workspace's members, consent flags and a
few timeline entries each. Every row carries what the services would have filled: E.164 phones, the denormalised
primary phone/email/region, pinyin, initials and the search document (``normalize.search_document``'s format).

Written set-based, one transaction per batch: on PostgreSQL with COPY (psycopg's ``cursor.copy``), on SQLite with
large ``executemany`` batches. Idempotent: ``target`` is the number of customers the workspace should hold; a
second run with the same number adds nothing, a larger one tops up (generated rows are numbered in ``import_ref``
as ``demo:00001234``, so numbering continues where it stopped; a batch is all or nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import phonenumbers
from django.db import connection, models, transaction
from phonenumbers import carrier as pn_carrier

from guanxi.core.dbstats import refresh_planner_statistics
from guanxi.customers.models import (
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerPhone,
    CustomerTag,
    Interaction,
    Tag,
)
from guanxi.customers.normalize import name_pinyin
from guanxi.ledger.services import audit_record
from guanxi.workspaces.models import Membership, Workspace

REF_PREFIX = "demo:"
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
STEP_SECONDS = 90  # customer i arrives about i * 90 s after START: 1M customers span ~3 years

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ["欧阳", "司马", "诸葛", "上官", "慕容", "令狐", "皇甫", "东方"]
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉国志文斌晓东海燕丹宇浩然子涵欣怡梓轩雨婷"
    "思远嘉俊佳琪建林峰晨阳雪梅春秋冬凯瑞博宁安乐天一心诗琳婉清"
)
EN_FIRST = [
    "James",
    "Mary",
    "John",
    "Linda",
    "David",
    "Emma",
    "Michael",
    "Sophia",
    "Daniel",
    "Olivia",
    "Lucas",
]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clark", "Walker", "Wright", "Green", "Baker"]
PLACES = [  # province, city, districts, landline area code
    ("北京市", "北京", ["朝阳区", "海淀区", "东城区", "西城区"], "10"),
    ("上海市", "上海", ["浦东新区", "徐汇区", "静安区", "黄浦区"], "21"),
    ("广东省", "广州", ["天河区", "越秀区", "海珠区"], "20"),
    ("广东省", "深圳", ["南山区", "福田区", "宝安区"], "755"),
    ("浙江省", "杭州", ["西湖区", "上城区", "滨江区"], "571"),
    ("江苏省", "南京", ["鼓楼区", "玄武区", "建邺区"], "25"),
    ("江苏省", "苏州", ["姑苏区", "工业园区", "吴中区"], "512"),
    ("四川省", "成都", ["锦江区", "武侯区", "青羊区"], "28"),
    ("湖北省", "武汉", ["江汉区", "武昌区", "洪山区"], "27"),
    ("陕西省", "西安", ["雁塔区", "碑林区", "未央区"], "29"),
    ("山东省", "青岛", ["市南区", "崂山区", "黄岛区"], "532"),
    ("福建省", "厦门", ["思明区", "湖里区", "集美区"], "592"),
    ("天津市", "天津", ["和平区", "河西区", "南开区"], "22"),
    ("重庆市", "重庆", ["渝中区", "江北区", "南岸区"], "23"),
    ("湖南省", "长沙", ["岳麓区", "芙蓉区", "天心区"], "731"),
]
STREETS = [
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "和平路",
    "长江路",
    "科技园路",
    "滨江大道",
    "南京路",
    "文化路",
]
INDUSTRIES = ["零售", "制造", "金融", "教育", "医疗", "餐饮", "物流", "互联网", "房地产", "化妆品"]
SOURCES = ["web_form", "website", "social", "email", "store", "fair", "event", "referral"]
COMPANY_WORDS = ["科技", "贸易", "实业", "电子", "食品", "服饰", "医药", "物流", "文化", "建材"]
BRAND_CHARS = "华盛达鑫源恒泰通丰锦创嘉美新宏远昌隆"
EN_COMPANIES = ["Pacific", "Orient", "Harbor", "Summit", "Golden Gate", "Silk Road", "Blue Ocean"]
TITLES = ["经理", "总监", "采购经理", "总经理", "销售代表", "财务", "行政主管", "工程师", ""]
MOBILE_PREFIXES = [
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157", "158",
    "159", "166", "173", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199",
]  # fmt: skip
MAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "foxmail.com"]
TAGS = ["VIP", "老客户", "潜在客户", "经销商", "已回访", "高价值", "待跟进", "投诉过", "展会", "转介绍"]
INTERACTIONS = [
    ("call", "out", "电话回访", "客户对产品满意，约下周再联系。"),
    ("call", "in", "来电咨询", "咨询价格和发货时间。"),
    ("email", "out", "报价单", "已发送最新报价单。"),
    ("visit", "out", "上门拜访", "拜访客户，介绍新品。"),
    ("sms", "out", "活动通知", "双十一促销活动通知。"),
    ("note", "", "备注", "客户偏好微信沟通。"),
    ("meeting", "", "线下会议", "讨论年度合作框架。"),
    ("order", "", "下单", "订购样品一批。"),
]


@lru_cache(maxsize=100_000)
def _carrier(head: str) -> str:
    """The carrier phonenumbers names for mobiles starting with these digits (cached: the generator makes
    a million numbers from a few thousand such blocks)."""
    num = phonenumbers.parse("+86" + head + "0" * (11 - len(head)), None)
    return pn_carrier.name_for_number(num, "en") or ""


def _person_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.65 else "")
    return surname + given


def _mobile(rng: random.Random) -> tuple[str, str, str]:
    national = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    return "+86" + national, national, _carrier(national[:4])


@lru_cache(maxsize=64)
def _landline_shapes(area: str) -> tuple[tuple[int, int], ...]:
    """(first digit, length) pairs of valid fixed lines in this area code (cities differ: 7 or 8 digits)."""
    shapes = []
    for length in (8, 7):
        for first in range(2, 9):
            sample = area + str(first) + "1" * (length - 1)
            if phonenumbers.is_valid_number(phonenumbers.parse("+86" + sample, None)):
                shapes.append((first, length))
    return tuple(shapes)


def _landline(rng: random.Random, area: str) -> tuple[str, str]:
    """A fixed line in the city's area code, checked with phonenumbers."""
    shapes = _landline_shapes(area)
    for _ in range(50):
        first, length = rng.choice(shapes)
        national = area + str(first) + f"{rng.randrange(10 ** (length - 1)):0{length - 1}d}"
        if phonenumbers.is_valid_number(phonenumbers.parse("+86" + national, None)):
            return "+86" + national, national
    raise RuntimeError(f"no valid landline found for area code {area}")


def _document(name: str, pinyin: str, initials: str, company: str, emails: list) -> str:
    """``normalize.search_document``'s output, from values already at hand."""
    words = [name.lower(), pinyin, initials]
    if company:
        words.append(company.lower())
    words.extend(emails)
    return " ".join(" ".join(w for w in words if w).split())


class _Writer:
    """Appends rows to a model's table in bulk: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, model: type[models.Model], *, with_id: bool = False):
        self.model = model
        self.table = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.columns = [f.column for f in self.fields]
        # a column a row leaves out gets the field's default ("" for text, None when nullable)
        self.defaults: dict[str, Any] = {f.attname: f.get_default() for f in self.fields}
        self.json = {f.attname for f in self.fields if isinstance(f, models.JSONField)}
        self.bools = {f.attname for f in self.fields if isinstance(f, models.BooleanField)}
        self.times = {f.attname for f in self.fields if isinstance(f, models.DateTimeField)}

    def _row(self, values: dict[str, Any], sqlite: bool) -> tuple:
        out = []
        for f in self.fields:
            v = values[f.attname] if f.attname in values else self.defaults.get(f.attname)
            if f.attname in self.json:
                v = json.dumps(v if v is not None else {}, ensure_ascii=False)
            elif sqlite and v is not None:
                if f.attname in self.times:
                    v = v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
                elif f.attname in self.bools:
                    v = int(v)
            out.append(v)
        return tuple(out)

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        sqlite = connection.vendor == "sqlite"
        cols = ", ".join(f'"{c}"' for c in self.columns)
        with connection.cursor() as cur:
            if sqlite:
                marks = ", ".join("%s" for _ in self.columns)
                sql = f'INSERT INTO "{self.table}" ({cols}) VALUES ({marks})'  # noqa: S608 - model metadata only
                cur.executemany(sql, [self._row(r, True) for r in rows])
            else:
                # PostgreSQL refuses COPY into a table with row-level security (FORCE'd on every tenant table,
                # guanxi.core.rls): COPY into a temporary staging table, then one INSERT … SELECT, which the
                # policy checks like any insert.
                stage = f"_gx_stage_{self.table}"
                cur.execute(
                    f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" AS SELECT {cols} FROM "{self.table}" WITH NO DATA'  # noqa: S608
                )
                cur.execute(f'TRUNCATE "{stage}"')
                with cur.copy(f'COPY "{stage}" ({cols}) FROM STDIN') as copy:
                    for r in rows:
                        copy.write_row(self._row(r, False))
                cur.execute(f'INSERT INTO "{self.table}" ({cols}) SELECT {cols} FROM "{stage}"')  # noqa: S608


def _next_ids(n: int) -> list[int]:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('customers_customer', 'id')) FROM generate_series(1, %s)",
                [n],
            )
            return [r[0] for r in cur.fetchall()]
        cur.execute("SELECT coalesce(max(id), 0) FROM customers_customer")
        first = cur.fetchone()[0] + 1
        return list(range(first, first + n))


def _batch(
    *,
    ws: Workspace,
    start: int,
    count: int,
    seed: int,
    owners: list[int],
    tag_ids: list[int],
    interactions: int,
) -> dict[str, int]:
    rng = random.Random(seed * 1_000_003 + start)
    ids = _next_ids(count)
    customers, phones, emails, addresses, ctags, timeline = [], [], [], [], [], []
    companies: list[tuple[int, str]] = []
    for k in range(count):
        i, cid = start + k, ids[k]
        created = START + dt.timedelta(seconds=i * STEP_SECONDS + rng.randrange(STEP_SECONDS))
        province, city, districts, area = rng.choice(PLACES)
        owner = rng.choice(owners)
        english = rng.random() < 0.10
        is_company = rng.random() < 0.12 or (k == 0 and not companies)
        company_id, company_name, title = None, "", ""
        if is_company:
            kind = "company"
            if english:
                name = f"{rng.choice(EN_COMPANIES)} {rng.choice(['Trading', 'Tech', 'Foods'])} Co., Ltd."
            else:
                suffix = "股份有限公司" if rng.random() < 0.2 else "有限公司"
                name = (
                    city
                    + rng.choice(BRAND_CHARS)
                    + rng.choice(BRAND_CHARS)
                    + rng.choice(COMPANY_WORDS)
                    + suffix
                )
        else:
            kind = "person"
            name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}" if english else _person_name(rng)
            if companies and rng.random() < 0.33:
                company_id, company_name = rng.choice(companies)
                title = rng.choice(TITLES)
        pinyin, initials = name_pinyin(name)
        e164, national, carrier_name = _mobile(rng)
        numbers = [(e164, national)]
        phones.append(
            {
                "workspace_id": ws.pk,
                "customer_id": cid,
                "e164": e164,
                "raw": national,
                "kind": "mobile",
                "region": "CN",
                "carrier": carrier_name,
                "is_primary": True,
            }
        )
        if rng.random() < 0.10 or is_company:
            l164, lnational = _landline(rng, area)
            numbers.append((l164, lnational))
            phones.append(
                {
                    "workspace_id": ws.pk,
                    "customer_id": cid,
                    "e164": l164,
                    "raw": f"0{area}-{lnational[len(area) :]}",
                    "kind": "landline",
                    "region": "CN",
                    "carrier": "",
                    "is_primary": False,
                }
            )
        mails = []
        if rng.random() < 0.6:
            local = (pinyin or "kehu")[:20] + str(rng.randrange(1000))
            mails.append(f"{local}@{rng.choice(MAIL_DOMAINS)}")
        for j, m in enumerate(mails):
            emails.append({"workspace_id": ws.pk, "customer_id": cid, "email": m, "is_primary": j == 0})
        district = rng.choice(districts)
        addresses.append(
            {
                "workspace_id": ws.pk,
                "customer_id": cid,
                "kind": "work" if is_company else "home",
                "country": "CN",
                "province": province,
                "city": city,
                "district": district,
                "street": f"{rng.choice(STREETS)}{rng.randint(1, 999)}号",
                "postal_code": f"{rng.randint(100000, 850000)}",
                "free_form": "",
                "is_primary": True,
            }
        )
        for tag_id in rng.sample(tag_ids, k=rng.choice([0, 0, 1, 1, 2])):
            ctags.append({"workspace_id": ws.pk, "customer_id": cid, "tag_id": tag_id})
        consent = rng.random() < 0.7
        customers.append(
            {
                "id": cid,
                "workspace_id": ws.pk,
                "kind": kind,
                "name": name,
                "name_pinyin": pinyin,
                "name_initials": initials,
                "company_id": company_id,
                "company_name": company_name,
                "title": title,
                "phone": e164,
                "email": mails[0] if mails else "",
                "province": province,
                "city": city,
                "industry": rng.choice(INDUSTRIES),
                "source": rng.choice(SOURCES),
                "owner_id": owner,
                "notes": "",
                "consent_phone": consent,
                "consent_sms": consent and rng.random() < 0.8,
                "consent_email": bool(mails) and rng.random() < 0.6,
                "consent_updated_at": created if consent else None,
                "custom": {},
                "search_text": _document(name, pinyin, initials, company_name, mails),
                "import_ref": f"{REF_PREFIX}{i:08d}",
                "merged_into_id": None,
                "created_at": created,
                "updated_at": created,
            }
        )
        if is_company:
            companies.append((cid, name))
        when = created
        for _ in range(interactions):
            when = when + dt.timedelta(hours=rng.randint(1, 24 * 60))
            ikind, direction, subject, body = rng.choice(INTERACTIONS)
            timeline.append(
                {
                    "workspace_id": ws.pk,
                    "customer_id": cid,
                    "kind": ikind,
                    "direction": direction,
                    "occurred_at": when,
                    "actor_id": owner,
                    "subject": subject,
                    "body": body,
                    "created_at": when,
                }
            )
    _Writer(Customer, with_id=True).write(customers)
    _Writer(CustomerPhone).write(phones)
    _Writer(CustomerEmail).write(emails)
    _Writer(CustomerAddress).write(addresses)
    _Writer(CustomerTag).write(ctags)
    _Writer(Interaction).write(timeline)
    return {"customers": len(customers), "interactions": len(timeline)}


def demo_customers_generate(
    *,
    workspace: Workspace,
    target: int,
    interactions: int = 3,
    seed: int = 20261123,
    batch_size: int = 10_000,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Top the workspace up to ``target`` customers with generated ones; returns what was added.

    One transaction per batch (all or nothing), ANALYZE afterwards on PostgreSQL so the planner knows the new
    sizes; one audit event for the run. Refuses nothing: the caller (the ``demo`` command) chooses the workspace.
    """
    if target < 0 or target > 10_000_000:
        raise ValueError("target must be between 0 and 10,000,000")
    wid = workspace.pk
    existing = Customer.all_workspaces.filter(workspace_id=wid).count()
    need = target - existing
    added = {"customers": 0, "interactions": 0}
    if need <= 0:
        return added
    last = (
        Customer.all_workspaces.filter(workspace_id=wid, import_ref__startswith=REF_PREFIX)
        .order_by("-import_ref")
        .values_list("import_ref", flat=True)
        .first()
    )
    start = int(last[len(REF_PREFIX) :]) + 1 if last else 0
    owners = list(
        Membership.all_workspaces.filter(workspace_id=wid, is_active=True).values_list("user_id", flat=True)
    )
    tag_ids = []
    for name in TAGS:
        tag, _created = Tag.all_workspaces.get_or_create(workspace_id=wid, name=name)
        tag_ids.append(tag.pk)
    began = time.monotonic()
    done = 0
    while done < need:
        count = min(batch_size, need - done)
        with transaction.atomic():
            got = _batch(
                ws=workspace,
                start=start + done,
                count=count,
                seed=seed,
                owners=owners,
                tag_ids=tag_ids,
                interactions=interactions,
            )
        done += count
        for k, v in got.items():
            added[k] += v
        if progress:
            rate = done / max(time.monotonic() - began, 1e-6)
            progress(f"  {existing + done:,}/{target:,} customers ({rate:,.0f}/s)")
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for model in (Customer, CustomerPhone, CustomerEmail, CustomerAddress, CustomerTag, Interaction):
                cur.execute(f'ANALYZE "{model._meta.db_table}"')
    audit_record(
        workspace=workspace,
        actor=None,
        action="customer.demo_generate",
        object_type="customers.customer",
        object_repr=f"{added['customers']} demo customers",
        changes={"customers": added["customers"], "interactions": added["interactions"], "target": target},
    )
    refresh_planner_statistics()  # without them SQLite walks the wrong index (guanxi.core.dbstats)
    return added
