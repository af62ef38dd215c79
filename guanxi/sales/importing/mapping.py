"""Which column of an order file goes where: the targets and the guess from Chinese and English headers."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from guanxi.customers.importing.mapping import normalise_header

TARGETS: dict[str, object] = {
    "order_id": _("Order id (ERP)"),
    "line_no": _("Line number"),
    "customer_external_id": _("Customer id (ERP)"),
    "customer_phone": _("Customer phone"),
    "customer_email": _("Customer email"),
    "customer_name": _("Customer name"),
    "ordered_at": _("Order date"),
    "sku": _("Product SKU"),
    "product_name": _("Product name"),
    "quantity": _("Quantity"),
    "unit_price": _("Unit price"),
    "tax_rate": _("Tax rate (%)"),
    "status": _("Status"),
    "currency": _("Currency"),
}
CUSTOMER_TARGETS = ("customer_external_id", "customer_phone", "customer_email")

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": ("订单号", "订单编号", "订单id", "单号", "orderid", "orderno", "ordernumber", "order", "externalid",
                 "erporderid"),
    "line_no": ("行号", "明细行号", "序号", "lineno", "line", "linenumber", "lineid", "item", "itemno"),
    "customer_external_id": ("客户编号", "客户id", "客户代码", "customerid", "customerexternalid", "customerno",
                             "customercode"),
    "customer_phone": ("手机", "手机号", "电话", "客户电话", "联系电话", "phone", "mobile", "customerphone"),
    "customer_email": ("邮箱", "电子邮件", "客户邮箱", "email", "customeremail"),
    "customer_name": ("客户", "客户名称", "客户姓名", "姓名", "customer", "customername", "name"),
    "ordered_at": ("日期", "订单日期", "下单日期", "下单时间", "date", "orderdate", "orderedat", "ordertime"),
    "sku": ("sku", "产品编码", "商品编码", "物料编码", "货号", "productcode", "productsku", "itemcode"),
    "product_name": ("产品", "产品名称", "商品", "商品名称", "品名", "product", "productname", "itemname"),
    "quantity": ("数量", "qty", "quantity", "amount数量"),
    "unit_price": ("单价", "价格", "售价", "price", "unitprice"),
    "tax_rate": ("税率", "taxrate", "vat", "vatrate"),
    "status": ("状态", "订单状态", "status", "orderstatus"),
    "currency": ("币种", "货币", "currency"),
}  # fmt: skip
_LOOKUP = {alias: target for target, aliases in _SYNONYMS.items() for alias in aliases}


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Column index (as str) -> target for every column recognised; each target once."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for index, header in enumerate(headers):
        target = _LOOKUP.get(normalise_header(header))
        if target and target not in used:
            used.add(target)
            mapping[str(index)] = target
    return mapping


def target_choices() -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in TARGETS.items()]
