"""Which column goes where: the target fields of an import and the guess from Chinese and English headers.

The guess knows the layouts that Google Contacts and Outlook export (``Phone 1 - Value``, ``E-mail Address``,
``First Name``/``Last Name`` …) as well as the headers Chinese spreadsheets use (姓名, 手机号, 邮箱, 公司 …).
The user can correct every column before the import starts.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext_lazy as _

# Targets a column can be mapped to. "custom:<key>" targets are added per workspace.
TARGETS: dict[str, object] = {
    "name": _("Name"),
    "family_name": _("Family name"),
    "given_name": _("Given name"),
    "kind": _("Type"),
    "phone": _("Phone"),
    "email": _("Email"),
    "company_name": _("Company"),
    "title": _("Job title"),
    "province": _("Province"),
    "city": _("City"),
    "district": _("District"),
    "address": _("Address"),
    "industry": _("Industry"),
    "source": _("Source"),
    "notes": _("Notes"),
    "tags": _("Tags"),
    "external_id": _("External ID"),
}
# Several columns may feed these (Mobile + Business Phone, two e-mail columns, …).
MULTI_TARGETS = {"phone", "email", "notes", "tags", "address"}

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名称", "客户名称", "客户姓名", "客户", "联系人", "联系人姓名", "名字", "name", "fullname",
             "displayname", "customer", "customername", "contact", "contactname", "fn"),
    "family_name": ("姓", "姓氏", "lastname", "familyname", "surname"),
    "given_name": ("名", "firstname", "givenname"),
    "kind": ("类型", "客户类型", "type", "kind", "customertype"),
    "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "电话号码", "移动电话", "座机", "固定电话", "办公电话",
              "联系方式", "mobile", "mobilephone", "mobilenumber", "phone", "phonenumber", "telephone", "tel",
              "cell", "cellphone", "businessphone", "business2phone", "homephone", "home2phone", "otherphone",
              "primaryphone", "companymainphone"),
    "email": ("邮箱", "电子邮件", "电子邮箱", "邮件", "邮件地址", "email", "emailaddress", "mail", "email2address",
              "email3address"),
    "company_name": ("公司", "单位", "公司名称", "工作单位", "企业", "企业名称", "所属公司", "company", "companyname",
                     "organization", "organisation", "org", "organizationname", "organization1name"),
    "title": ("职位", "职务", "头衔", "岗位", "title", "jobtitle", "position", "organizationtitle",
              "organization1title"),
    "province": ("省", "省份", "所在省", "所在省份", "州", "province", "state", "region", "businessstate",
                 "homestate", "address1region"),
    "city": ("市", "城市", "所在城市", "city", "businesscity", "homecity", "address1city"),
    "district": ("区", "区县", "县", "县区", "district", "county"),
    "address": ("地址", "详细地址", "街道", "街道地址", "通讯地址", "联系地址", "address", "street", "streetaddress",
                "businessstreet", "homestreet", "address1street", "address1formatted"),
    "industry": ("行业", "所属行业", "industry"),
    "source": ("来源", "客户来源", "渠道", "来源渠道", "source", "leadsource", "channel"),
    "notes": ("备注", "说明", "描述", "notes", "note", "remark", "remarks", "comment", "comments", "description"),
    "tags": ("标签", "分组", "分类", "tags", "tag", "labels", "categories", "groupmembership", "groups"),
    "external_id": ("编号", "客户编号", "外部编号", "外部id", "externalid", "customerid", "customerno", "id"),
}  # fmt: skip
_LOOKUP = {alias: target for target, aliases in _SYNONYMS.items() for alias in aliases}
_JUNK = re.compile(r"[\s_\-./:*()（）【】\[\]#：]+")
# Google: "Phone 1 - Value", "E-mail 2 - Value"; their "- Type"/"- Label" columns are not data.
_GOOGLE_VALUE = re.compile(r"^(phone|email|e-mail)\s*\d+\s*-\s*value$", re.I)


def normalise_header(header: str) -> str:
    text = unicodedata.normalize("NFKC", header or "").strip().lower()
    return _JUNK.sub("", text)


def detect_layout(headers: list[str]) -> str:
    """'google', 'outlook' or 'generic' (vCard files are told by their format)."""
    norm = {normalise_header(h) for h in headers}
    if {"phone1value", "email1value"} & norm or ("givenname" in norm and "groupmembership" in norm):
        return "google"
    if "emailaddress" in norm and ({"mobilephone", "businessphone"} & norm) and "firstname" in norm:
        return "outlook"
    return "generic"


def guess_mapping(headers: list[str], custom_fields: list[tuple[str, str]] = ()) -> dict[str, str]:
    """Column index (as str) -> target for every column recognised. ``custom_fields``: (key, label) pairs."""
    custom = {}
    for key, label in custom_fields:
        custom[normalise_header(key)] = f"custom:{key}"
        custom[normalise_header(label)] = f"custom:{key}"
    layout = detect_layout(headers)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for index, header in enumerate(headers):
        norm = normalise_header(header)
        if not norm:
            continue
        if layout == "outlook" and norm == "title":
            continue  # Outlook's "Title" is the honorific (Mr., Dr.); "Job Title" is the job
        target = custom.get(norm) or _LOOKUP.get(norm)
        if target is None and _GOOGLE_VALUE.match(header.strip()):
            target = "phone" if header.strip().lower().startswith("phone") else "email"
        if target is None:
            continue
        if target in used and target not in MULTI_TARGETS:
            continue
        used.add(target)
        mapping[str(index)] = target
    return mapping


def target_choices(custom_fields: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(value, label) for the mapping dropdowns, custom fields last."""
    out = [(k, str(v)) for k, v in TARGETS.items()]
    out.extend((f"custom:{key}", str(label)) for key, label in custom_fields)
    return out
