"""Pages of the SLA policies and assignment rules (included from guanxi/service/urls.py)."""

from django.urls import path

from guanxi.service import views_rules

urlpatterns = [
    path("sla/", views_rules.sla_list_view, name="sla_list"),
    path("sla/new/", views_rules.sla_form_view, name="sla_create"),
    path("sla/<int:policy_id>/", views_rules.sla_form_view, name="sla_edit"),
    path("sla/<int:policy_id>/delete/", views_rules.sla_delete_view, name="sla_delete"),
    path("rules/", views_rules.rule_list_view, name="rule_list"),
    path("rules/new/", views_rules.rule_form_view, name="rule_create"),
    path("rules/<int:ticket_rule_id>/", views_rules.rule_form_view, name="rule_edit"),
    path("rules/<int:ticket_rule_id>/delete/", views_rules.rule_delete_view, name="rule_delete"),
]
