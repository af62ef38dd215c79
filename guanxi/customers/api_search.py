"""API route for the search box: ``GET /api/v1/customers/search?q=``.

Registered in ``guanxi/api.py`` before the customers router, so ``/customers/search`` is not read as
``/customers/{customer_id}``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from guanxi.core.api_support import ErrorOut, member
from guanxi.customers.privacy import personal_access
from guanxi.customers.search import MAX_LIMIT, MAX_QUERY_LENGTH, customer_search, present_hit

router = Router(tags=["customers"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 422, 429)}


class SearchParams(Schema):
    q: str = Field(
        ...,
        max_length=MAX_QUERY_LENGTH,
        description="Chinese name or part of it (2+ characters), full pinyin, pinyin initials, "
        "a phone fragment (4+ digits), an email or part of it, a company name.",
    )
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


class SearchHitOut(Schema):
    id: int
    kind: str
    name: str
    company_name: str
    phone: str = Field(
        description="Masked (138****8000) unless the caller may see this owner's personal data."
    )
    email: str = Field(description="Masked (z***@example.com) like the phone.")
    city: str
    owner_id: int | None
    score: int = Field(
        description="100 exact, 85-90 pinyin/initials, 60-70 prefix, 50 substring, 1-40 fuzzy."
    )
    masked: bool


class SearchOut(Schema):
    items: list[SearchHitOut]


@router.get(
    "/customers/search", response={200: SearchOut, **ERRORS}, summary="Search customers (one box, ranked)"
)
def customers_search(request: HttpRequest, params: Query[SearchParams]) -> dict:
    """Best matches first; ties newest first. Only customers the caller may see; merged-away ones never."""
    actor = member(request)
    hits = customer_search(actor=actor, q=params.q, limit=params.limit)
    access = personal_access(actor)
    return {"items": [present_hit(actor, c, score, access=access) for c, score in hits]}
