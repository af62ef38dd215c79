"""Products (产品), price lists (价格表) and discount rules (折扣规则): the catalogue quotes are priced from.

Catalogue changes are workspace-wide: they need workspace-wide sales edit rights (``require_sales_admin``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import DiscountRule, PriceList, PriceListBasis, PriceListItem, Product
from guanxi.sales.services._common import clean_amount, clean_currency, clean_text, require_sales_admin
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Role

PRODUCT_FIELDS = ("sku", "name", "unit", "tax_rate", "list_price", "currency", "is_active")
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")
HUNDRED = Decimal("100")
# Without a rule: owners, administrators and managers may give any discount; everyone else up to 10 %.
DEFAULT_MAX_DISCOUNT = {Role.OWNER: HUNDRED, Role.ADMIN: HUNDRED, Role.MANAGER: HUNDRED}
DEFAULT_OTHER_MAX = Decimal("10")


def clean_percent(value: Any, errors: dict[str, str], field: str) -> Decimal | None:
    """A percentage from 0 to 100 with at most two decimals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        pct = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        errors[field] = _("Enter a percentage from 0 to 100.")
        return None
    if not pct.is_finite() or pct < 0 or pct > HUNDRED:
        errors[field] = _("Enter a percentage from 0 to 100.")
        return None
    if pct != pct.quantize(Decimal("0.01")):
        errors[field] = _("At most two decimal places.")
        return None
    return pct.quantize(Decimal("0.01"))


def _clean_product(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "sku" in out:
        clean_text(out, "sku", 64, errors, required=True)
        if "sku" not in errors and not _SKU.match(out["sku"]):
            errors["sku"] = _("Use letters, digits and . _ - / only.")
    if "name" in out:
        clean_text(out, "name", 200, errors, required=True)
    if "unit" in out:
        clean_text(out, "unit", 20, errors, required=True)
    if "tax_rate" in out:
        out["tax_rate"] = clean_percent(out["tax_rate"], errors, "tax_rate")
        if out["tax_rate"] is None and "tax_rate" not in errors:
            errors["tax_rate"] = _("This field is required.")
    if "list_price" in out:
        out["list_price"] = clean_amount(out["list_price"], errors, "list_price")
        if out["list_price"] is None and "list_price" not in errors:
            errors["list_price"] = _("This field is required.")
    if "currency" in out:
        out["currency"] = clean_currency(out["currency"], errors)
    if "is_active" in out:
        out["is_active"] = bool(out["is_active"])
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def product_create(*, actor: Membership, sku: str, name: str, list_price: Any, **fields: Any) -> Product:
    """Add a product to the catalogue. Refuses a SKU already used in this workspace (``sku``)."""
    require_sales_admin(actor)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_product({"sku": sku, "name": name, "list_price": list_price, **fields})
    with transaction.atomic():
        if Product.objects.filter(sku__iexact=data["sku"]).exists():
            raise ValidationFailed(fields={"sku": _("Another product already has this SKU.")})
        product = Product.objects.create(**data)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="product.create", obj=product,
            after=snapshot(product),
        )  # fmt: skip
    return product


def product_update(*, actor: Membership, product_id: int, **fields: Any) -> Product:
    """Change a product. Quotes and orders already written keep their own copies of price and tax."""
    require_sales_admin(actor)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_product(fields)
    with transaction.atomic():
        product = get_product(product_id, lock=True)
        if "sku" in data and Product.objects.filter(sku__iexact=data["sku"]).exclude(pk=product.pk).exists():
            raise ValidationFailed(fields={"sku": _("Another product already has this SKU.")})
        before = snapshot(product)
        for k, v in data.items():
            setattr(product, k, v)
        product.save()
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="product.update", obj=product,
            before=before, after=snapshot(product),
        )  # fmt: skip
    return product


def get_product(product_id: Any, *, lock: bool = False) -> Product:
    qs = Product.objects.all()
    if lock:
        qs = qs.select_for_update()
    product = qs.filter(pk=product_id).first() if str(product_id).isdigit() else None
    if product is None:
        raise NotFound()
    return product


def _clean_items(items: list[dict], errors: dict[str, str]) -> dict[int, Decimal]:
    prices: dict[int, Decimal] = {}
    known = set(Product.objects.values_list("id", flat=True))
    for i, item in enumerate(items or []):
        pid = item.get("product_id")
        if not str(pid).isdigit() or int(pid) not in known:
            errors[f"items.{i}.product_id"] = _("Choose a product of this workspace.")
            continue
        price = clean_amount(item.get("price"), errors, f"items.{i}.price")
        if price is None:
            errors.setdefault(f"items.{i}.price", _("This field is required."))
            continue
        prices[int(pid)] = price
    return prices


def pricelist_save(
    *,
    actor: Membership,
    name: str,
    basis: str,
    value: str,
    items: list[dict],
    currency: str = "CNY",
    is_active: bool = True,
    pricelist_id: int | None = None,
) -> PriceList:
    """Create (or, with ``pricelist_id``, replace) a price list for a customer tier or a region, with its items.

    ``items``: ``[{"product_id", "price"}]``. Refuses an unknown basis, a product of another workspace, a
    negative price, a duplicate name.
    """
    require_sales_admin(actor)
    errors: dict[str, str] = {}
    data = {"name": name, "value": value}
    clean_text(data, "name", 100, errors, required=True)
    clean_text(data, "value", 50, errors, required=True)
    if basis not in PriceListBasis.values:
        errors["basis"] = _("Choose customer tier or region.")
    cur = clean_currency(currency, errors)
    with transaction.atomic():
        prices = _clean_items(items, errors)
        dup = PriceList.objects.filter(name=data["name"])
        if pricelist_id is not None:
            dup = dup.exclude(pk=pricelist_id)
        if data["name"] and dup.exists():
            errors["name"] = _("Another price list has this name.")
        if errors:
            raise ValidationFailed(fields=errors)
        if pricelist_id is None:
            pl = PriceList.objects.create(
                name=data["name"], basis=basis, value=data["value"], currency=cur, is_active=is_active
            )
            before = None
        else:
            pl = get_pricelist(pricelist_id)
            before = {**snapshot(pl), "items": {str(k): str(v) for k, v in _item_map(pl).items()}}
            pl.name, pl.basis, pl.value, pl.currency, pl.is_active = (
                data["name"],
                basis,
                data["value"],
                cur,
                is_active,
            )
            pl.save()
            pl.items.all().delete()
        PriceListItem.objects.bulk_create(
            [
                PriceListItem(workspace=pl.workspace, price_list=pl, product_id=pid, price=p)
                for pid, p in prices.items()
            ]
        )
        audit_record(
            workspace=actor.workspace, actor=actor.user,
            action="pricelist.create" if before is None else "pricelist.update", obj=pl, before=before,
            after={**snapshot(pl), "items": {str(k): str(v) for k, v in prices.items()}},
        )  # fmt: skip
    return pl


def _item_map(pl: PriceList) -> dict[int, Decimal]:
    return dict(pl.items.values_list("product_id", "price"))


def get_pricelist(pricelist_id: Any) -> PriceList:
    pl = PriceList.objects.filter(pk=pricelist_id).first() if str(pricelist_id).isdigit() else None
    if pl is None:
        raise NotFound()
    return pl


def customer_tier(customer: Customer) -> str:
    """The customer's tier (客户等级) for price lists: the custom field ``tier`` (loyalty tiers may feed it)."""
    return str((customer.custom or {}).get("tier") or "").strip()


def price_for(*, product: Product, customer: Customer | None) -> Decimal:
    """The price of a product for a customer: a tier price list first, then a region one, else the list price."""
    if customer is not None:
        tier, region = customer_tier(customer), (customer.province or "").strip()
        for basis, value in ((PriceListBasis.TIER, tier), (PriceListBasis.REGION, region)):
            if not value:
                continue
            item = (
                PriceListItem.objects.filter(
                    product=product,
                    price_list__is_active=True,
                    price_list__basis=basis,
                    price_list__value=value,
                )
                .order_by("price")
                .first()
            )
            if item is not None:
                return item.price
    return product.list_price


def discountrule_set(*, actor: Membership, role: str, max_discount: Any) -> DiscountRule:
    """Set the largest line discount (%) members of ``role`` may give without approval."""
    require_sales_admin(actor)
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = _("Choose a role.")
    pct = clean_percent(max_discount, errors, "max_discount")
    if pct is None and "max_discount" not in errors:
        errors["max_discount"] = _("This field is required.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        rule = DiscountRule.objects.filter(role=role).first()
        before = snapshot(rule) if rule else None
        if rule is None:
            rule = DiscountRule.objects.create(role=role, max_discount=pct)
        else:
            rule.max_discount = pct
            rule.save()
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="discountrule.set", obj=rule,
            before=before, after=snapshot(rule),
        )  # fmt: skip
    return rule


def max_discount_for(member: Membership) -> Decimal:
    """The largest discount (%) this member may give without a manager's approval."""
    rule = DiscountRule.objects.filter(role=member.role).first()
    if rule is not None:
        return rule.max_discount
    return DEFAULT_MAX_DISCOUNT.get(member.role, DEFAULT_OTHER_MAX)
