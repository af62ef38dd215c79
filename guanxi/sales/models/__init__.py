"""Sales models. Each area keeps its models in its own module; all are imported here for Django.

Later areas (products, price lists, quotes, orders, returns, forecasts, expense claims) add their own modules and
one import line here.
"""

from guanxi.sales.models.activities import (
    DEFAULT_REMINDER_MINUTES,
    TIMED_KINDS,
    Activity,
    ActivityKind,
    ActivityNotification,
    ActivityPriority,
    ActivitySettings,
    ActivityStatus,
)
from guanxi.sales.models.leads import OPEN_LEAD_STATUSES, Lead, LeadCaptureForm, LeadSource, LeadStatus
from guanxi.sales.models.orders import Order, OrderLine, OrderReturn, OrderStatus, ReturnLine, ReturnStatus
from guanxi.sales.models.pipelines import (
    DEFAULT_CURRENCY,
    GATE_FIELDS,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    Stage,
    StageChange,
    StageKind,
)
from guanxi.sales.models.products import (
    VAT_RATES,
    ApprovalStatus,
    DiscountApproval,
    DiscountRule,
    PriceList,
    PriceListBasis,
    PriceListItem,
    Product,
)
from guanxi.sales.models.quotes import Quote, QuoteLine, QuoteStatus
from guanxi.sales.models.territories import (
    AssignmentRule,
    AssignmentRuleMember,
    RuleApplies,
    RuleCriterion,
    RuleDistribution,
    Territory,
    TerritoryMember,
)

__all__ = [
    "DEFAULT_REMINDER_MINUTES",
    "TIMED_KINDS",
    "Activity",
    "ActivityKind",
    "ActivityNotification",
    "ActivityPriority",
    "ActivitySettings",
    "ActivityStatus",
    "VAT_RATES",
    "ApprovalStatus",
    "DiscountApproval",
    "DiscountRule",
    "Order",
    "OrderLine",
    "OrderReturn",
    "OrderStatus",
    "PriceList",
    "PriceListBasis",
    "PriceListItem",
    "Product",
    "Quote",
    "QuoteLine",
    "QuoteStatus",
    "ReturnLine",
    "ReturnStatus",
    "DEFAULT_CURRENCY",
    "GATE_FIELDS",
    "OPEN_LEAD_STATUSES",
    "AssignmentRule",
    "AssignmentRuleMember",
    "Lead",
    "LeadCaptureForm",
    "LeadSource",
    "LeadStatus",
    "Opportunity",
    "OpportunityStatus",
    "Pipeline",
    "RuleApplies",
    "RuleCriterion",
    "RuleDistribution",
    "Stage",
    "StageChange",
    "StageKind",
    "Territory",
    "TerritoryMember",
]
