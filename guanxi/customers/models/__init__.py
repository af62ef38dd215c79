"""Customer models. Each area keeps its models in its own module; all are imported here for Django."""

from guanxi.customers.models.core import (
    AddressKind,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerKind,
    CustomerPhone,
    CustomerSource,
    CustomerTag,
    CustomFieldDefinition,
    CustomFieldType,
    Interaction,
    InteractionDirection,
    InteractionKind,
    PhoneKind,
    SavedView,
    Tag,
)
from guanxi.customers.models.dedupe import CustomerMerge, DuplicateCandidate, DuplicateScan  # noqa: F401
from guanxi.customers.models.imports import DuplicatePolicy, ImportJob, ImportRejectedRow, ImportStatus

__all__ = [
    "AddressKind",
    "Customer",
    "CustomerAddress",
    "CustomerEmail",
    "CustomerKind",
    "CustomerPhone",
    "CustomerSource",
    "CustomerTag",
    "CustomFieldDefinition",
    "CustomFieldType",
    "DuplicatePolicy",
    "ImportJob",
    "ImportRejectedRow",
    "ImportStatus",
    "Interaction",
    "InteractionDirection",
    "InteractionKind",
    "PhoneKind",
    "SavedView",
    "Tag",
]
