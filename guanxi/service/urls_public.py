from django.urls import path

from guanxi.service import views_portal, views_public

app_name = "service_public"
urlpatterns = [
    path("tickets/<str:token>/", views_public.ticket_form_view, name="ticket_form"),
    # the customer portal: a signed, expiring link per customer (guanxi/service/portal.py)
    path("portal/<str:token>/", views_portal.portal_home_view, name="portal_home"),
    path(
        "portal/<str:token>/tickets/<int:ticket_id>/", views_portal.portal_ticket_view, name="portal_ticket"
    ),
]
