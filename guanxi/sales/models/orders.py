"""Orders (订单) and returns (退货)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel
from guanxi.sales.models.pipelines import DEFAULT_CURRENCY


class OrderStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


class OrderSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    QUOTE = "quote", _("From a quote")
    IMPORT = "import", _("Imported")
    ERP = "erp", _("ERP sync")


class Order(TenantModel):
    """A sales order (订单) of a customer, made from an accepted quote or by hand. Totals are exact decimals.

    The workspace is neither a database foreign key nor an index of its own (every index and unique key starts
    with it), and the quote's index holds only orders made from a quote: an ERP history import writes millions of
    orders, and each per-row check or index entry that nobody reads costs minutes there (benchmarks/import_orders.py).
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False,
        db_constraint=False, db_index=False,
    )  # fmt: skip
    number = models.CharField(_("number"), max_length=30)
    # No database constraint: the importer checks the customers of each chunk in one statement instead of one
    # deferred check per order at COMMIT (sales/importing/chunk.py, _hold_customers); Django enforces PROTECT.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    quote = models.ForeignKey(
        "sales.Quote", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.CONFIRMED
    )
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    subtotal = models.DecimalField(_("subtotal"), max_digits=18, decimal_places=2, default=0)
    discount_total = models.DecimalField(_("discount"), max_digits=18, decimal_places=2, default=0)
    tax_total = models.DecimalField(_("tax"), max_digits=18, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=18, decimal_places=2, default=0)
    owner = models.ForeignKey(  # no database constraint: copied from the customer; Django clears it if a user goes
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    ordered_at = models.DateTimeField(_("order date"))
    # The order's id in the ERP (or the file it was imported from): ERP sync and imports are idempotent on it.
    external_id = models.CharField(_("external id"), max_length=100, blank=True, default="")
    source = models.CharField(
        _("source"), max_length=10, choices=OrderSource.choices, default=OrderSource.MANUAL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number"], name="order_unique_number"),
            # decides the race of two ERP syncs (or imports) of the same order: one row
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=~Q(external_id=""),
                name="order_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-ordered_at", "-id"], name="order_ws_date_idx"),
            models.Index(fields=["workspace", "customer", "ordered_at"], name="order_ws_customer_idx"),
            models.Index(fields=["quote"], name="order_quote_idx", condition=Q(quote__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(TenantModel):
    """A line of an order, with the same amounts as a quote line.

    No database foreign-key constraints (``db_constraint=False``) and no index of its own on the workspace: ERP
    history brings tens of millions of lines, and PostgreSQL checks each deferred constraint row by row at COMMIT
    (measured: three checks cost twice the insert itself, benchmarks/import_orders.py). Every writer takes the
    order and product ids from rows it read or created in the same transaction (services/orders.py, the ERP sync,
    the import), Django still cascades an order's deletion to its lines and clears a deleted product, and the
    workspace column is the first of the lines' unique key."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False,
        db_constraint=False, db_index=False,
    )  # fmt: skip
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_constraint=False)
    position = models.PositiveIntegerField(default=0)
    # No index: nothing reads lines by product, and deleting a product (rare; products are retired instead) may
    # scan the lines to clear the reference.
    product = models.ForeignKey(
        "sales.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    description = models.CharField(_("description"), max_length=200)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), max_digits=18, decimal_places=2)
    discount_pct = models.DecimalField(_("discount (%)"), max_digits=5, decimal_places=2, default=0)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=13)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    discount_amount = models.DecimalField(max_digits=18, decimal_places=2)
    tax_amount = models.DecimalField(max_digits=18, decimal_places=2)
    total = models.DecimalField(max_digits=18, decimal_places=2)
    # The line's key in the ERP / import file (its line number): re-sending an order updates its lines in place.
    line_key = models.CharField(_("line key"), max_length=40, blank=True, default="")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "order", "line_key"],
                condition=~Q(line_key=""),
                name="orderline_unique_key",
            )
        ]


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    RECEIVED = "received", _("Received")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", _("Rejected")


class OrderReturn(TenantModel):
    """A return (退货) against an order: reason, quantities per order line, refund amount and status.

    A rejected return's quantities no longer count as returned.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="returns")
    reason = models.CharField(_("reason"), max_length=500)
    refund_amount = models.DecimalField(_("refund amount"), max_digits=18, decimal_places=2, default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ReturnLine(TenantModel):
    """How much of one order line a return takes back."""

    order_return = models.ForeignKey(OrderReturn, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="return_lines")
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)


class OrderImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class OrderImportJob(TenantModel):
    """An import of order history from one file (订单导入): CSV or XLSX, one row per order line, with mapping,
    progress (a checkpoint per committed chunk, so a killed import resumes) and a report."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=OrderImportStatus.choices, default=OrderImportStatus.UPLOADED
    )
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)
    file_size = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64)
    file_format = models.CharField(max_length=10)  # csv | xlsx
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)  # column index (as str) -> target ("order_id", "sku", ...)
    create_customers = models.BooleanField(default=False)
    create_products = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(default=0)
    next_row = models.PositiveIntegerField(default=0)  # checkpoint: data rows committed so far
    orders_created = models.PositiveIntegerField(default=0)
    orders_updated = models.PositiveIntegerField(default=0)
    orders_unchanged = models.PositiveIntegerField(default=0)
    lines_written = models.PositiveIntegerField(default=0)
    customers_created = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    rejected_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="orderimport_ws_created_idx")]

    def __str__(self) -> str:
        return self.file_name

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == OrderImportStatus.DONE else 0
        return min(100, round(100 * self.next_row / self.total_rows))


class OrderImportRejectedRow(TenantModel):
    """A row of an order import that was not imported, with the field and the reason."""

    job = models.ForeignKey(OrderImportJob, on_delete=models.CASCADE, related_name="rejected_rows")
    row_number = models.PositiveIntegerField()  # as a spreadsheet shows it: the header is row 1
    field = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=500)
    values = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "job", "row_number"], name="orderimportrejected_unique_row"
            )
        ]
