"""Benchmark: the whole-workspace duplicate scan at 1,000,000 customers on PostgreSQL (target: under 5 minutes).

    GUANXI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/guanxi_dedupe GUANXI_DATA_DIR=/tmp/gx-dedupe \
        .venv/bin/python benchmarks/dedupe_scan.py --customers 1000000 --runs 3

Builds its own data set once (COPY into the customer, phone and email tables of a workspace "dedupe-bench"; reused
when it already has the asked-for size): realistic Chinese names (frequent surnames weighted as in China, so common
names like 王伟 form large blocks), some English names, cities, companies, unique phones and emails, and a known share
of *planted* duplicates of five kinds (same phone with the name in pinyin, same email, traditional characters,
a homophone in the same city, a typo in an English name in the same city). Then it runs the real scan
(``duplicate_scan_run``: blocking in the database, scoring, saving the candidates) ``--runs`` times and prints
JSON: median and all run times, the baseline (one plain read of every customer's id, name, phone, email and city
into Python, measured in the same run) and the ratio, the scan's own statistics, and precision / recall on the
planted pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")

SURNAMES = (
    "王" * 70
    + "李" * 70
    + "张" * 65
    + "刘" * 53
    + "陈" * 45
    + "杨" * 31
    + "黄" * 25
    + "赵" * 20
    + "吴" * 20
    + "周" * 19
    + "徐" * 15
    + "孙" * 15
    + "马" * 13
    + "朱" * 13
    + "胡" * 12
    + "郭" * 11
    + "何" * 10
    + "高" * 10
    + "林" * 10
    + "罗" * 10
    + "郑" * 9
    + "梁" * 9
    + "谢" * 8
    + "宋" * 7
    + "唐" * 7
    + "许" * 7
    + "韩" * 7
    + "冯" * 7
    + "邓" * 7
    + "曹" * 6
    + "彭" * 6
    + "曾" * 6
    + "肖" * 6
    + "田" * 6
    + "董" * 6
    + "袁" * 5
    + "潘" * 5
    + "于" * 5
    + "蒋" * 5
    + "蔡" * 5
    + "余" * 5
    + "杜" * 5
    + "叶" * 5
    + "程" * 5
    + "苏" * 4
    + "魏" * 4
    + "吕" * 4
    + "丁" * 4
    + "任" * 4
    + "沈" * 4
    + "姚" * 4
    + "卢" * 4
    + "姜" * 4
    + "崔" * 4
    + "钟" * 4
    + "谭" * 4
    + "陆" * 4
    + "汪" * 4
    + "范" * 4
    + "金" * 4
    + "石" * 3
    + "廖" * 3
    + "贾" * 3
    + "夏" * 3
    + "韦" * 3
    + "付" * 3
    + "方" * 3
    + "白" * 3
    + "邹" * 3
    + "孟" * 3
    + "熊" * 3
    + "秦" * 3
    + "邱" * 3
    + "江" * 3
    + "尹" * 3
    + "薛" * 3
    + "闫" * 3
    + "段" * 3
    + "雷" * 3
    + "侯" * 3
    + "龙" * 3
    + "史" * 3
    + "欧阳"
    + "司马"
    + "上官"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红梅鑫斌宇浩凯健俊帆帅旭宁龙林欣颖玲婷雪琳晨"
    "辉鹏飞波丹莉燕慧建国志海东亮成福文博宏春晓晶思嘉子涵梓轩一诺雨欣语桐浩然宇航昊天佳怡心怡可馨若汐子墨"
)
ENGLISH_FIRST = [
    "James",
    "Mary",
    "John",
    "Linda",
    "David",
    "Susan",
    "Michael",
    "Karen",
    "Daniel",
    "Emily",
    "Jonathan",
    "Catherine",
    "Christopher",
    "Elizabeth",
    "Matthew",
    "Jennifer",
    "Andrew",
    "Jessica",
]
ENGLISH_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Miller",
    "Wilson",
    "Moore",
    "Taylor",
    "Anderson",
    "Thomas",
    "Jackson",
    "White",
    "Harris",
    "Martin",
    "Thompson",
    "Garcia",
    "Robinson",
    "Clark",
]
CITIES = [
    ("北京", "北京"),
    ("上海", "上海"),
    ("广东", "广州"),
    ("广东", "深圳"),
    ("浙江", "杭州"),
    ("江苏", "南京"),
    ("江苏", "苏州"),
    ("四川", "成都"),
    ("湖北", "武汉"),
    ("陕西", "西安"),
    ("重庆", "重庆"),
    ("天津", "天津"),
    ("湖南", "长沙"),
    ("河南", "郑州"),
    ("山东", "济南"),
    ("山东", "青岛"),
    ("福建", "厦门"),
    ("福建", "福州"),
    ("辽宁", "沈阳"),
    ("辽宁", "大连"),
    ("云南", "昆明"),
    ("安徽", "合肥"),
    ("江西", "南昌"),
    ("广西", "南宁"),
    ("黑龙江", "哈尔滨"),
    ("吉林", "长春"),
    ("河北", "石家庄"),
    ("山西", "太原"),
    ("贵州", "贵阳"),
    ("海南", "海口"),
    ("甘肃", "兰州"),
    ("内蒙古", "呼和浩特"),
    ("新疆", "乌鲁木齐"),
    ("浙江", "宁波"),
    ("广东", "东莞"),
    ("广东", "佛山"),
    ("江苏", "无锡"),
    ("浙江", "温州"),
    ("山东", "烟台"),
    ("河北", "唐山"),
]
CO_WORDS = "华信达通恒泰盛源鑫隆科技贸易实业电子网络信息智能医疗教育物流食品服装建筑文化传媒金融咨询能源环保汽车机械化工"
DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "example.cn"]
# homophone swaps for given-name characters (same pinyin, other character)
HOMOPHONES = {
    "伟": "玮",
    "芳": "方",
    "娜": "纳",
    "静": "靖",
    "丽": "莉",
    "强": "墙",
    "磊": "垒",
    "军": "君",
    "洋": "阳",
    "勇": "永",
    "杰": "洁",
    "涛": "滔",
    "明": "鸣",
    "超": "潮",
    "平": "萍",
    "刚": "钢",
    "华": "桦",
    "红": "宏",
    "鑫": "欣",
    "斌": "彬",
    "宇": "雨",
    "浩": "昊",
    "凯": "恺",
    "健": "建",
    "俊": "骏",
    "宁": "凝",
    "林": "琳",
    "颖": "影",
    "玲": "铃",
    "婷": "庭",
    "晨": "辰",
    "辉": "徽",
    "鹏": "朋",
    "飞": "菲",
    "波": "博",
    "丹": "单",
    "燕": "艳",
    "慧": "惠",
    "海": "嗨",
    "东": "冬",
    "亮": "靓",
    "成": "诚",
    "文": "雯",
    "宏": "弘",
    "春": "椿",
    "晓": "小",
    "晶": "精",
    "思": "丝",
}


def _setup() -> None:
    import django

    django.setup()


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        p = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
        if p not in used:
            used.add(p)
            return "+86" + p


def _chinese_name(rng: random.Random) -> str:
    s = rng.choice(SURNAMES)
    if len(s) == 1 and s == "欧":
        s = "欧阳"
    n = 1 if rng.random() < 0.3 else 2
    return s + "".join(rng.choice(GIVEN) for _ in range(n))


def _typo(rng: random.Random, name: str) -> str:
    first, _sp, last = name.partition(" ")
    i = rng.randrange(1, len(first) - 1)
    vowels = "aeiou"
    ch = first[i]
    new = rng.choice([v for v in vowels if v != ch]) if ch in vowels else ch + ch
    return first[:i] + new + first[i + 1 :] + " " + last


def build(n: int, share: float, seed: int = 7) -> tuple[list[dict], list[tuple[int, int, str]]]:
    """Customers (as dicts, in id order from 0) and the planted duplicate pairs (original, copy, kind)."""
    import zhconv

    from guanxi.customers.normalize import name_pinyin

    rng = random.Random(seed)
    used: set[str] = set()
    companies = ["".join(rng.choice(CO_WORDS) for _ in range(4)) + "有限公司" for _ in range(20000)]
    base_n = int(n * (1 - share))
    rows: list[dict] = []
    for i in range(base_n):
        english = rng.random() < 0.05
        name = f"{rng.choice(ENGLISH_FIRST)} {rng.choice(ENGLISH_LAST)}" if english else _chinese_name(rng)
        prov, city = rng.choice(CITIES)
        full, initials = name_pinyin(name)
        email = f"{full[:12]}{rng.randrange(10**6)}@{rng.choice(DOMAINS)}" if rng.random() < 0.6 else ""
        if email in used:
            email = f"x{i}{email}"
        used.add(email)
        rows.append(
            {
                "name": name,
                "pinyin": full,
                "initials": initials,
                "phone": _phone(rng, used),
                "email": email,
                "province": prov,
                "city": city,
                "company_name": rng.choice(companies) if rng.random() < 0.3 else "",
            }
        )
    planted: list[tuple[int, int, str]] = []
    kinds = ["phone", "email", "traditional", "homophone", "typo"]
    while len(rows) < n:
        kind = kinds[len(planted) % len(kinds)]
        src_id = rng.randrange(base_n)
        src = rows[src_id]
        dup = dict(src)
        dup["phone"], dup["email"] = _phone(rng, used), ""
        dup["company_name"] = ""
        if kind == "phone":
            dup["phone"] = src["phone"]
            dup["name"] = src["pinyin"].capitalize() if _is_chinese(src["name"]) else src["name"].upper()
            dup["city"] = dup["province"] = ""
        elif kind == "email":
            if not src["email"]:
                continue
            dup["email"] = src["email"].upper()
            dup["city"] = dup["province"] = ""
        elif kind == "traditional":
            trad = zhconv.convert(src["name"], "zh-hant")
            if trad == src["name"]:
                continue
            dup["name"] = trad
            dup["city"] = rng.choice(CITIES)[1]  # another city: the written form is the only link
        elif kind == "homophone":
            if not _is_chinese(src["name"]) or src["name"][-1] not in HOMOPHONES:
                continue
            dup["name"] = src["name"][:-1] + HOMOPHONES[src["name"][-1]]
        elif kind == "typo":
            if _is_chinese(src["name"]):
                continue
            dup["name"] = _typo(rng, src["name"])
        dup["email"] = dup["email"].lower()
        dup["pinyin"], dup["initials"] = name_pinyin(dup["name"])
        planted.append((src_id, len(rows), kind))
        rows.append(dup)
    return rows, planted


def _is_chinese(name: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in name)


def load(ws, rows: list[dict]) -> int:
    """COPY the rows into the workspace's customer, phone and email tables; returns the first customer id."""
    from django.db import connection
    from django.utils import timezone

    from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone

    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {Customer._meta.db_table}")  # noqa: S608
        first = cur.fetchone()[0]
    values = {
        "workspace": ws.pk,
        "kind": "person",
        "created_at": now,
        "updated_at": now,
        "custom": "{}",
        "owner": ws_owner_id(ws),
    }
    fields = [f for f in Customer._meta.concrete_fields]
    cols = [f.column for f in fields]
    pg = connection.connection  # the psycopg connection under Django's
    with pg.cursor() as cur:
        with cur.copy(f"COPY {Customer._meta.db_table} ({', '.join(cols)}) FROM STDIN") as cp:
            for i, r in enumerate(rows):
                data = {
                    **values,
                    "id": first + i,
                    "name": r["name"],
                    "name_pinyin": r["pinyin"],
                    "name_initials": r["initials"],
                    "phone": r["phone"],
                    "email": r["email"],
                    "province": r["province"],
                    "city": r["city"],
                    "company_name": r["company_name"],
                    "search_text": " ".join(v for v in (r["name"].lower(), r["pinyin"], r["initials"]) if v),
                }
                cp.write_row([_db_value(f, data) for f in fields])
        with cur.copy(
            f"COPY {CustomerPhone._meta.db_table} (workspace_id, customer_id, e164, raw, kind, region, carrier, "
            "is_primary) FROM STDIN"
        ) as cp:
            for i, r in enumerate(rows):
                cp.write_row([ws.pk, first + i, r["phone"], r["phone"], "mobile", "CN", "", True])
        with cur.copy(
            f"COPY {CustomerEmail._meta.db_table} (workspace_id, customer_id, email, is_primary) FROM STDIN"
        ) as cp:
            for i, r in enumerate(rows):
                if r["email"]:
                    cp.write_row([ws.pk, first + i, r["email"], True])
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{Customer._meta.db_table}', 'id'), %s)",
            [first + len(rows)],
        )
        cur.execute("ANALYZE")
    return first


def _db_value(field, data: dict):
    key = field.name
    if key in data:
        return data[key]
    if field.null:
        return None
    default = field.get_default()
    if isinstance(default, dict | list):
        return json.dumps(default)
    return default


def ws_owner_id(ws) -> int:
    from guanxi.workspaces.models import Membership

    return (
        Membership.all_workspaces.filter(workspace=ws)
        .order_by("pk")
        .values_list("user_id", flat=True)
        .first()
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--share", type=float, default=0.05, help="share of planted duplicates")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="drop and rebuild the data set")
    args = ap.parse_args()
    _setup()
    from django.core.management import call_command
    from django.db import connection

    from guanxi.core.context import workspace_context
    from guanxi.customers.dedupe import duplicate_scan_run
    from guanxi.customers.models import (
        Customer,
        CustomerEmail,
        CustomerPhone,
        DuplicateCandidate,
        DuplicateScan,
    )
    from guanxi.workspaces.models import User, Workspace
    from guanxi.workspaces.services import workspace_create

    if connection.vendor != "postgresql":
        print("set GUANXI_DATABASE_URL to a PostgreSQL database", file=sys.stderr)
        return 2
    call_command("migrate", interactive=False, verbosity=0)
    ws = Workspace.objects.filter(name="dedupe-bench").first()
    if ws is None:
        user = User.objects.filter(username="dedupe-bench").first() or User.objects.create_user(
            username="dedupe-bench", password="bench-password-123"
        )
        ws, _m = workspace_create(name="dedupe-bench", owner=user)
    t0 = time.perf_counter()
    rows, planted = build(args.customers, args.share)
    build_s = time.perf_counter() - t0
    load_s = 0.0
    with workspace_context(ws):
        count = Customer.objects.count()
        if args.rebuild or count != args.customers:
            if count:  # raw deletes: the ORM's cascade would collect a million objects first
                with connection.cursor() as cur:
                    for model in (DuplicateCandidate, CustomerPhone, CustomerEmail, Customer):
                        cur.execute(f"DELETE FROM {model._meta.db_table} WHERE workspace_id = %s", [ws.pk])  # noqa: S608
            t0 = time.perf_counter()
            load(ws, rows)
            load_s = time.perf_counter() - t0
        # the rows were loaded in build order: map positions to ids
        first = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
        truth = {(min(first + a, first + b), max(first + a, first + b)): kind for a, b, kind in planted}

        def baseline() -> float:
            t = time.perf_counter()
            with connection.chunked_cursor() as cur:
                cur.execute(
                    f"SELECT id, name, phone, email, city FROM {Customer._meta.db_table} WHERE workspace_id = %s",  # noqa: S608
                    [ws.pk],
                )
                while cur.fetchmany(10000):
                    pass
            return time.perf_counter() - t

        times, bases, scan = [], [], None
        for _ in range(args.runs):
            bases.append(baseline())
            scan = DuplicateScan.objects.create()
            t = time.perf_counter()
            scan = duplicate_scan_run(scan_id=scan.pk)
            times.append(time.perf_counter() - t)
        found = dict(
            ((a, b), s)
            for a, b, s in DuplicateCandidate.objects.filter(status="open").values_list(
                "customer_a_id", "customer_b_id", "score"
            )
        )
    hits = [p for p in truth if p in found]
    by_kind = {}
    for k in sorted({k for k in truth.values()}):
        pairs = [p for p, kind in truth.items() if kind == k]
        by_kind[k] = round(sum(1 for p in pairs if p in found) / max(1, len(pairs)), 4)
    high = {p for p, s in found.items() if s >= 0.8}
    result = {
        "benchmark": "dedupe_scan",
        "database": "postgresql",
        "customers": args.customers,
        "planted_pairs": len(truth),
        "build_data_s": round(build_s, 1),
        "load_copy_s": round(load_s, 1),
        "scan_s_median": round(statistics.median(times), 1),
        "scan_s_runs": [round(t, 1) for t in times],
        "baseline_read_all_s_median": round(statistics.median(bases), 2),
        "ratio_scan_to_baseline": round(statistics.median(times) / statistics.median(bases), 1),
        "under_5_minutes": statistics.median(times) < 300,
        "candidates": len(found),
        "recall_planted": round(len(hits) / max(1, len(truth)), 4),
        "recall_by_kind": by_kind,
        "precision_planted_all": round(len(hits) / max(1, len(found)), 4),
        "precision_planted_score_ge_0_8": round(len(high & set(truth)) / max(1, len(high)), 4),
        "candidates_score_ge_0_8": len(high),
        "scan_stats": scan.stats if scan else {},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
