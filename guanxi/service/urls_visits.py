"""Field visit pages and the customer portal link (included from guanxi/service/urls.py)."""

from django.urls import path

from guanxi.service import views_visits

urlpatterns = [
    path("visits/", views_visits.visit_list_view, name="visit_list"),
    path("visits/<int:visit_id>/", views_visits.visit_detail_view, name="visit_detail"),
    path("visits/<int:visit_id>/action/", views_visits.visit_action_view, name="visit_action"),
    path("tickets/<int:ticket_id>/visits/", views_visits.visit_schedule_view, name="visit_schedule"),
    path("customers/<int:customer_id>/portal-link/", views_visits.portal_link_view, name="portal_link"),
    path(
        "customers/<int:customer_id>/portal-link/revoke/",
        views_visits.portal_revoke_view,
        name="portal_revoke",
    ),
]
