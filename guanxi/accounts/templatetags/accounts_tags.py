from __future__ import annotations

from django import template

from guanxi.workspaces.selectors import memberships_of_user

register = template.Library()


@register.simple_tag(takes_context=True)
def user_memberships(context: template.Context) -> list:
    """The signed-in user's active memberships (for the workspace switcher); empty for a visitor."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return list(memberships_of_user(user=user))
