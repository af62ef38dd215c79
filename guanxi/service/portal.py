"""The customer portal's links (客户自助门户): a signed, expiring token naming one customer of one workspace.

The token is Django's signature (keyed by SECRET_KEY) over [workspace id, customer id, days valid] with the time of
issue, so no table is needed and a forged or altered token fails the signature. It expires ``days`` after issue
(at most ``MAX_DAYS``). Everything the portal shows is filtered by the token's customer, inside the token's
workspace context: another customer's ticket is the same 404 as a missing one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer
from guanxi.customers.selectors import get_customer_for
from guanxi.ledger.services import audit_record
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership, Workspace
from guanxi.workspaces.permissions import Module

_SALT = "guanxi.service.portal"
DEFAULT_DAYS = 30
MAX_DAYS = 365


@dataclass(frozen=True)
class PortalLink:
    url: str
    token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class PortalAccess:
    """What a valid token opens: the workspace and the customer (read in that workspace's context)."""

    workspace: Workspace
    customer_id: int


def portal_token(*, workspace_id: int, customer_id: int, days: int = DEFAULT_DAYS) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object([workspace_id, customer_id, days])


def portal_link_create(*, actor: Membership, customer_id: int, days: int = DEFAULT_DAYS) -> PortalLink:
    """A portal link for one customer the actor may see, valid ``days`` (1..365). Needs service edit rights (the
    link lets its holder open tickets). Audited: who gave a customer access, and until when."""
    permissions.require(actor, Module.SERVICE, "edit")
    try:
        days = int(days)
        if not 1 <= days <= MAX_DAYS:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationFailed(
            fields={"days": _("Enter a number of days from 1 to %(n)s.") % {"n": MAX_DAYS}}
        ) from None
    customer = get_customer_for(actor, customer_id)
    token = portal_token(workspace_id=actor.workspace_id, customer_id=customer.pk, days=days)
    expires = timezone.now() + dt.timedelta(days=days)
    with transaction.atomic():
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="portal.link", obj=customer,
            changes={"expires_at": expires.isoformat()},
        )  # fmt: skip
    url = settings.GUANXI_BASE_URL.rstrip("/") + reverse("service_public:portal_home", args=[token])
    return PortalLink(url=url, token=token, expires_at=expires)


class PortalExpired(Exception):
    """The token was genuine but its time is up."""


class PortalRevoked(Exception):
    """The token was genuine but the customer's links were revoked after it was issued."""


def portal_links_revoke(*, actor: Membership, customer_id: int) -> dt.datetime:
    """Revoke every portal link of one customer issued until now (links made later work). Needs service edit
    rights, like making a link. Audited. Returns the time of revocation."""
    from guanxi.service.models import PortalRevocation  # noqa: PLC0415

    permissions.require(actor, Module.SERVICE, "edit")
    customer = get_customer_for(actor, customer_id)
    now = timezone.now()
    with transaction.atomic():
        PortalRevocation.objects.update_or_create(
            customer=customer, defaults={"revoked_at": now, "revoked_by": actor.user}
        )
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="portal.revoke", obj=customer,
            changes={"revoked_at": now.isoformat()},
        )  # fmt: skip
    return now


def _issued_at(signer: signing.TimestampSigner, token: str) -> dt.datetime:
    """When a genuine token was signed (whole seconds: the signer's own timestamp field)."""
    _value, stamp, _sig = token.rsplit(signer.sep, 2)
    return dt.datetime.fromtimestamp(signing.b62_decode(stamp), tz=dt.UTC)


def portal_access(token: str) -> PortalAccess | None:
    """The workspace and customer a token opens; None for a forged, altered or unknown one. Raises PortalExpired for
    a genuine token past its days, PortalRevoked for one issued before its customer's links were revoked.
    Cross-tenant by nature: the signed token is the only key."""
    if not token or len(token) > 300:
        return None
    signer = signing.TimestampSigner(salt=_SALT)
    try:
        ws_id, customer_id, days = signer.unsign_object(token)
    except signing.BadSignature:
        return None
    except (ValueError, TypeError):
        return None
    try:
        signer.unsign_object(token, max_age=dt.timedelta(days=int(days)))
    except signing.SignatureExpired:
        raise PortalExpired() from None
    ws = Workspace.objects.filter(pk=ws_id).first()
    if ws is None:
        return None
    from guanxi.core.context import workspace_context  # noqa: PLC0415
    from guanxi.service.models import PortalRevocation  # noqa: PLC0415

    with workspace_context(ws):
        row = Customer.objects.filter(pk=customer_id).values_list("pk", "merged_into_id").first()
        if row is None:
            return None
        # revoked at or after the second the link was signed (a link made in the same second is revoked too); a
        # merged-away customer's link is revoked with the survivor's
        if PortalRevocation.objects.filter(
            customer_id__in={int(customer_id), int(row[1] or row[0])},
            revoked_at__gte=_issued_at(signer, token),
        ).exists():
            raise PortalRevoked()
    return PortalAccess(workspace=ws, customer_id=int(row[1] or row[0]))  # a merged customer: the survivor
