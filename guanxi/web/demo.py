"""The demo workspace: a small trading company with realistic Chinese customers, members and a team.

Idempotent: running it again leaves an existing demo workspace as it is. Team set-up and a few customers go
through the services, so the audit trail and the dashboard's recent activity have real events to show.
"""

from __future__ import annotations

import random

from django.db import transaction

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, CustomerKind
from guanxi.customers.services import customer_create, customer_update
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces.models import Membership, User, Workspace
from guanxi.workspaces.permissions import Role
from guanxi.workspaces.services import member_set_team, team_create, workspace_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "guanxi-demo-2026"
DEMO_COMPANY = "华信商贸有限公司"
DEMO_CUSTOMERS = 300

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国建华志强文斌晓东海燕丹宇浩然子涵欣怡梓轩雨婷思远嘉怡俊杰佳琪"
PLACES = [
    ("北京市", "北京"),
    ("上海市", "上海"),
    ("广东省", "广州"),
    ("广东省", "深圳"),
    ("浙江省", "杭州"),
    ("江苏省", "南京"),
    ("江苏省", "苏州"),
    ("四川省", "成都"),
    ("湖北省", "武汉"),
    ("陕西省", "西安"),
    ("山东省", "青岛"),
    ("福建省", "厦门"),
    ("天津市", "天津"),
    ("重庆市", "重庆"),
    ("湖南省", "长沙"),
]
INDUSTRIES = ["零售", "制造", "金融", "教育", "医疗", "餐饮", "物流", "互联网", "房地产", "化妆品"]
SOURCES = ["web_form", "website", "social", "email", "store", "fair", "event", "referral"]
COMPANY_WORDS = ["科技", "贸易", "实业", "电子", "食品", "服饰", "医药", "物流", "文化", "建材"]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "158",
    "159",
    "176",
    "177",
    "180",
    "181",
    "186",
    "187",
    "188",
    "189",
]


def _person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) if rng.random() < 0.4 else rng.choice(GIVEN) + rng.choice(GIVEN)
    return rng.choice(SURNAMES) + given[:2]


def _phone(rng: random.Random) -> str:
    return "+86" + rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))


def _user(username: str, display: str, email: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(
            username=username, password=DEMO_PASSWORD, email=email, display_name=display
        )
    return user


def load_demo(seed: int = 20261123, customers: int = DEMO_CUSTOMERS) -> dict:
    existing = Workspace.objects.filter(name=DEMO_COMPANY).first()
    if existing is not None:
        with workspace_context(existing):
            return {
                "workspace": existing.name,
                "slug": existing.slug,
                "customers": Customer.objects.count(),
                "created": False,
            }
    rng = random.Random(seed)
    with transaction.atomic():
        owner = _user(DEMO_USERNAME, "陈总", "demo@example.com")
        ws, owner_m = workspace_create(name=DEMO_COMPANY, owner=owner, language="zh-hans")
        with workspace_context(ws):
            manager = _user("wangli", "王丽", "wangli@example.com")
            sales = [
                _user("zhangwei", "张伟", "zhangwei@example.com"),
                _user("liuyang", "刘洋", "liuyang@example.com"),
            ]
            agent = _user("zhaomin", "赵敏", "zhaomin@example.com")
            # Members join (the invitation flow's job in real life: recorded the way it records them).
            joined = []
            for user, role in [
                (manager, Role.MANAGER),
                *[(s, Role.SALES) for s in sales],
                (agent, Role.SERVICE),
            ]:
                m = Membership.objects.create(user=user, role=role)
                audit_record(
                    workspace=ws,
                    actor=owner,
                    action="membership.create",
                    obj=m,
                    object_repr=str(user),
                    after=snapshot(m),
                )
                joined.append(m)
            # The rest goes through the services, so the dashboard's recent activity shows real events.
            team = team_create(actor=owner_m, name="华东销售组", manager_id=manager.pk)
            for m in joined[:3]:
                member_set_team(actor=owner_m, member_id=m.pk, team_id=team.pk)
            owners = [owner, manager, *sales]
            rows = []
            for _ in range(customers):
                province, city = rng.choice(PLACES)
                if rng.random() < 0.25:
                    name = (
                        city
                        + rng.choice(["华", "盛", "达", "鑫", "源", "恒"])
                        + rng.choice(["泰", "通", "丰", "锦", "创"])
                        + rng.choice(COMPANY_WORDS)
                        + "有限公司"
                    )
                    kind, email = CustomerKind.COMPANY, ""
                else:
                    name, kind = _person_name(rng), CustomerKind.PERSON
                    email = f"user{rng.randrange(10**6):06d}@example.com" if rng.random() < 0.5 else ""
                rows.append(
                    Customer(
                        workspace=ws,
                        kind=kind,
                        name=name,
                        phone=_phone(rng),
                        email=email,
                        province=province,
                        city=city,
                        industry=rng.choice(INDUSTRIES),
                        source=rng.choice(SOURCES),
                        owner=rng.choice(owners),
                    )
                )
            # The bulk of the customers arrive at once, as an import would bring them; a few are added and edited
            # by hand through the services, as the sales team would.
            Customer.all_workspaces.bulk_create(rows[:-5], batch_size=500)
            for row, actor in zip(
                rows[-5:], [joined[1], joined[2], joined[1], joined[0], owner_m], strict=True
            ):
                fields = {
                    f: getattr(row, f)
                    for f in ("kind", "phone", "email", "province", "city", "industry", "source")
                }
                customer = customer_create(actor=actor, name=row.name, **fields)
            customer_update(actor=owner_m, customer_id=customer.pk, notes="年度重点客户，季度回访。")
            # Order history for the analytics dashboards (and one analysis run queued after commit).
            from guanxi.analytics.demo import demo_orders_generate

            demo_orders_generate(workspace=ws, actor=owner_m, seed=seed)
    return {"workspace": ws.name, "slug": ws.slug, "customers": customers, "created": True}
