"""Template helpers of the analytics app: labels, the tier focus, and the customer 360 profile panel."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_label(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key, key)
    except AttributeError:
        return key


@register.filter
def tier_focus(tier: str) -> str:
    from guanxi.analytics.selectors import TIER_FOCUS

    return str(TIER_FOCUS.get(tier, ""))


@register.filter
def segment_label(value: str, field: str) -> str:
    from guanxi.analytics.models import RfmSegment, Stage, Tier

    choices = {"tier": Tier.choices, "stage": Stage.choices, "rfm_segment": RfmSegment.choices}.get(field, [])
    return str(dict(choices).get(value, value))


@register.filter
def percent(value: Any) -> str:
    try:
        return f"{100 * float(value):.0f}%"
    except (TypeError, ValueError):
        return "—"


@register.inclusion_tag("analytics/_customer_profile.html", takes_context=True)
def analytics_customer_profile(context: template.Context, customer: Any) -> dict[str, Any]:
    """``{% load analytics_tags %}{% analytics_customer_profile customer %}`` on the customer 360 page: tier, RFM,
    stage, cluster, churn risk, CLV, next purchase and recommended products, each explained and linked to its run."""
    from guanxi.analytics.selectors import customer_profile

    request = context.get("request")
    actor = getattr(request, "membership", None)
    profile = customer_profile(actor=actor, customer=customer) if actor is not None else None
    return {"customer": customer, "profile": profile}


@register.filter
def run_message(entry: dict) -> str:
    """A run message in the reader's language: the stored Chinese or English text where the step kept both."""
    from django.utils.translation import get_language

    zh = (get_language() or "").startswith("zh")
    return entry.get("text_zh" if zh else "text_en") or entry.get("text", "")
