"""API routes of the service app (added to /api/v1 in guanxi/api.py)."""

from ninja import Router

router = Router(tags=["service"])
