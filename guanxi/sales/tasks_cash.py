"""Background jobs of quotes and orders: mailing a sent quote with its PDF (queued by ``quote_send``)."""

from __future__ import annotations

from django.core.mail import EmailMessage
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from guanxi.core.context import workspace_context


@db_task(retries=3, retry_delay=60)
def send_quote_email(quote_id: int) -> None:
    """Mail the quote's PDF to its address. Gets only the id: finds the quote's workspace to enter its context."""
    # Cross-tenant lookup by primary key only, to learn which workspace to enter.
    from guanxi.core import rls
    from guanxi.sales.models import Quote
    from guanxi.sales.pdf import quote_pdf

    with rls.bypass():
        quote = Quote.all_workspaces.select_related("workspace").filter(pk=quote_id).first()
    if quote is None:
        return
    with workspace_context(quote.workspace):
        quote = Quote.objects.select_related("customer").get(pk=quote_id)
        msg = EmailMessage(
            subject=_("Quote %(n)s: %(t)s") % {"n": quote.number, "t": quote.title},
            body=_("Dear %(c)s,\n\nplease find our quote %(n)s attached.\n\n%(ws)s")
            % {"c": quote.customer.name, "n": quote.number, "ws": quote.workspace.name},
            to=[quote.email],
        )
        msg.attach(f"{quote.number}-v{quote.version}.pdf", quote_pdf(quote), "application/pdf")
        msg.send()
