"""Customers (客户) and what hangs on them: phones, emails, addresses, tags, custom fields, the timeline.

Denormalised on ``Customer`` for lists, filters and the screen pop: the primary phone (E.164), primary email,
province/city (the region), the pinyin of the name and a ``search_text`` document. The services keep them in step
with the detail tables; nothing else writes them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")


class CustomerSource(models.TextChoices):
    """Where the customer came from (来源渠道): online and offline channels."""

    WEB_FORM = "web_form", _("Web form")
    WEBSITE = "website", _("Website")
    SOCIAL = "social", _("Social media")
    EMAIL = "email", _("Email")
    STORE = "store", _("Store")
    FAIR = "fair", _("Trade fair")
    EVENT = "event", _("Event")
    REFERRAL = "referral", _("Referral")
    IMPORT = "import", _("Import")
    OTHER = "other", _("Other")


class Customer(TenantModel):
    """A customer (客户): a person (B2C) or a company (B2B), owned by one member.

    A person may be a contact at a company customer (``company``). Personal fields (phones, emails, addresses) are
    shown masked to members without the personal-data right; sensitive fields (ID card, bank card) are stored
    encrypted (``*_enc``, AES-GCM via guanxi.core.crypto) and revealed only by an audited action.
    """

    # No index of its own: every index below starts with the workspace, and each index costs every insert (an
    # import of a million rows goes through all of them).
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False, db_index=False
    )
    kind = models.CharField(
        _("type"), max_length=10, choices=CustomerKind.choices, default=CustomerKind.PERSON
    )
    name = models.CharField(_("name"), max_length=200)
    name_pinyin = models.CharField(max_length=400, blank=True)  # "zhangsanfeng"
    name_initials = models.CharField(max_length=100, blank=True)  # "zsf"
    company = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        limit_choices_to={"kind": CustomerKind.COMPANY},
        verbose_name=_("company"),
        db_index=False,  # customer_ws_company_idx in the workspace; customer_company_set_idx across workspaces
    )
    company_name = models.CharField(_("company name"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)  # primary, E.164
    email = models.EmailField(_("email"), blank=True)  # primary, lower case
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    industry = models.CharField(_("industry"), max_length=50, blank=True)
    source = models.CharField(_("source"), max_length=30, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
        db_index=False,  # customer_ws_owner_idx (every owner filter is inside a workspace)
    )
    notes = models.TextField(_("notes"), blank=True)
    consent_phone = models.BooleanField(_("may contact by phone"), default=False)
    consent_sms = models.BooleanField(_("may contact by SMS"), default=False)
    consent_email = models.BooleanField(_("may contact by email"), default=False)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    custom = models.JSONField(default=dict, blank=True)  # values of CustomFieldDefinition, by key
    # Sensitive personal data (敏感个人信息): ciphertext plus the last four characters for recognition.
    id_card_enc = models.TextField(blank=True)
    id_card_last4 = models.CharField(max_length=4, blank=True)
    bank_card_enc = models.TextField(blank=True)
    bank_card_last4 = models.CharField(max_length=4, blank=True)
    # Lower-cased words the search box matches: name, pinyin, initials, company, phones, emails.
    search_text = models.TextField(blank=True)
    external_id = models.CharField(
        _("external id"), max_length=100, blank=True
    )  # id in an ERP / other system
    import_ref = models.CharField(
        max_length=80, blank=True
    )  # "<file sha256 prefix>:<row>": re-imports create nothing
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from", db_index=False
    )  # set on the losing record of a merge; such rows are hidden from lists and search
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # keyset pagination of the list, newest first
            models.Index(fields=["workspace", "-created_at", "-id"], name="customer_ws_created_idx"),
            models.Index(fields=["workspace", "owner"], name="customer_ws_owner_idx"),
            models.Index(fields=["workspace", "phone"], name="customer_ws_phone_idx"),
            # name-prefix search in the customer list (a range scan: name >= q AND name < q || U+10FFFF)
            models.Index(fields=["workspace", "name"], name="customer_ws_name_idx"),
            models.Index(fields=["workspace", "name_initials"], name="customer_ws_initials_idx"),
            models.Index(fields=["workspace", "email"], name="customer_ws_email_idx"),
            models.Index(fields=["workspace", "province", "city"], name="customer_ws_region_idx"),
            models.Index(fields=["workspace", "company"], name="customer_ws_company_idx"),
            # Deleting a customer clears the company and merged_into of the rows pointing at it, by id alone.
            # Partial: almost every row has neither, and such a row costs these indexes nothing on insert.
            models.Index(
                fields=["company"], condition=Q(company__isnull=False), name="customer_company_set_idx"
            ),
            models.Index(
                fields=["merged_into"], condition=Q(merged_into__isnull=False), name="customer_merged_set_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "import_ref"],
                condition=~Q(import_ref=""),
                name="customer_unique_import_ref",
            ),
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=~Q(external_id=""),
                name="customer_unique_external_id",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PhoneKind(models.TextChoices):
    MOBILE = "mobile", _("Mobile")
    LANDLINE = "landline", _("Landline")
    OTHER = "other", _("Other")


class CustomerPhone(TenantModel):
    """One phone number of a customer, normalised to E.164 (phonenumbers), with its region and carrier."""

    # Covered by the indexes below that start with the workspace (see Customer.workspace).
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False, db_index=False
    )
    # The unique (customer, e164) index starts with the customer: a second index on it alone is pure insert cost.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones", db_index=False)
    e164 = models.CharField(max_length=20)
    raw = models.CharField(max_length=40, blank=True)  # as the user typed it
    kind = models.CharField(max_length=10, choices=PhoneKind.choices, default=PhoneKind.MOBILE)
    region = models.CharField(max_length=2, blank=True)  # ISO country, e.g. CN
    carrier = models.CharField(max_length=50, blank=True)  # e.g. China Mobile
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "e164"], name="customerphone_unique")]
        # the screen pop: who is calling? (workspace, e164) -> customer
        indexes = [models.Index(fields=["workspace", "e164"], name="customerphone_ws_e164_idx")]

    def __str__(self) -> str:
        return self.e164


class CustomerEmail(TenantModel):
    """One email address of a customer, stored lower-cased."""

    # Covered by the indexes below that start with the workspace (see Customer.workspace).
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False, db_index=False
    )
    # The unique (customer, email) index starts with the customer: a second index on it alone is pure insert cost.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="emails", db_index=False)
    email = models.EmailField()
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "email"], name="customeremail_unique")]
        indexes = [models.Index(fields=["workspace", "email"], name="customeremail_ws_email_idx")]

    def __str__(self) -> str:
        return self.email


class AddressKind(models.TextChoices):
    HOME = "home", _("Home")
    WORK = "work", _("Work")
    BILLING = "billing", _("Billing")
    SHIPPING = "shipping", _("Shipping")
    OTHER = "other", _("Other")


class CustomerAddress(TenantModel):
    """An address: province / city / district / street for China, free form elsewhere."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=10, choices=AddressKind.choices, default=AddressKind.HOME)
    country = models.CharField(max_length=2, default="CN")
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    street = models.CharField(_("street"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    free_form = models.TextField(_("address"), blank=True)
    is_primary = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.free_form or f"{self.province}{self.city}{self.district}{self.street}"


class Tag(TenantModel):
    """A label (标签) members put on customers."""

    name = models.CharField(_("name"), max_length=50)
    color = models.CharField(max_length=7, default="#888888")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tag_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomerTag(TenantModel):
    """A tag on a customer."""

    # Covered by the indexes below that start with the workspace (see Customer.workspace).
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False, db_index=False
    )
    # The unique (customer, tag) index starts with the customer: a second index on it alone is pure insert cost.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="customer_tags", db_index=False
    )
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="customertag_unique")]
        indexes = [models.Index(fields=["workspace", "tag", "customer"], name="customertag_ws_tag_idx")]


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")


class CustomFieldDefinition(TenantModel):
    """A field a workspace defines for its customers (自定义字段), with its validation rules.

    Values live in ``Customer.custom[key]``: text as str, number as a decimal string, date as ISO date, choice as
    one of ``choices``, multi-choice as a list of them.
    """

    key = models.SlugField(max_length=50)
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=20, choices=CustomFieldType.choices)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    min_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    max_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    pattern = models.CharField(max_length=200, blank=True)  # a regular expression text values must match
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="customfield_unique_key")]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


class InteractionKind(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("Email")
    CHAT = "chat", _("Chat")
    SMS = "sms", _("SMS")
    VISIT = "visit", _("Visit")
    MEETING = "meeting", _("Meeting")
    NOTE = "note", _("Note")
    ORDER = "order", _("Order")
    TICKET = "ticket", _("Ticket")
    CAMPAIGN = "campaign", _("Campaign")
    POINTS = "points", _("Points")
    SURVEY = "survey", _("Survey")
    SYSTEM = "system", _("System")


class InteractionDirection(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")
    NONE = "", _("None")


class Interaction(TenantModel):
    """One entry on a customer's timeline (客户时间线): every touch, by any module, through one service.

    ``source_type``/``source_id`` point at the module's own record (e.g. "sales.order", 42); ``external_key``, when
    given, makes a retried write idempotent.
    """

    # Neither a database foreign key nor an index of its own for the workspace (every index here starts with it),
    # and the actor's index holds only rows that have one: imports write millions of entries at once.
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False,
        db_constraint=False, db_index=False,
    )  # fmt: skip
    # No database constraint (a timeline holds tens of millions of rows; bulk writers check their customers
    # set-based, see sales/importing/chunk.py _hold_customers; services write ids read in their own transaction);
    # Django cascades a customer's deletion to its timeline.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="interactions", db_constraint=False
    )
    kind = models.CharField(max_length=20, choices=InteractionKind.choices)
    direction = models.CharField(max_length=3, choices=InteractionDirection.choices, blank=True, default="")
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    source_type = models.CharField(max_length=60, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    external_key = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # the 360 view: one indexed query, newest first, keyset on (occurred_at, id)
            models.Index(
                fields=["workspace", "customer", "-occurred_at", "-id"], name="interaction_timeline_idx"
            ),
            models.Index(fields=["workspace", "source_type", "source_id"], name="interaction_source_idx"),
            models.Index(fields=["actor"], name="interaction_actor_idx", condition=Q(actor__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_key"],
                condition=~Q(external_key=""),
                name="interaction_unique_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"


class SavedView(TenantModel):
    """A member's saved list view (保存的视图): filters, sort and columns under a name."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=30, default="customers")
    name = models.CharField(_("name"), max_length=100)
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user", "module", "name"], name="savedview_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name
