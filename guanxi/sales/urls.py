from django.urls import include, path

from guanxi.sales import views, views_setup

app_name = "sales"
urlpatterns = [
    path("", views.sales_home, name="home"),
    path("pipelines/<int:pipeline_id>/", views.board_view, name="board"),
    path(
        "pipelines/<int:pipeline_id>/stages/<int:stage_id>/cards/", views.column_more_view, name="column_more"
    ),
    path("opportunities/", views.opportunity_list_view, name="opportunity_list"),
    path("opportunities/new/", views.opportunity_create_view, name="opportunity_create"),
    path("opportunities/<int:opportunity_id>/", views.opportunity_detail_view, name="opportunity_detail"),
    path("opportunities/<int:opportunity_id>/edit/", views.opportunity_edit_view, name="opportunity_edit"),
    path("opportunities/<int:opportunity_id>/move/", views.opportunity_move_view, name="opportunity_move"),
    path("leads/", views.lead_list_view, name="lead_list"),
    path("leads/new/", views.lead_create_view, name="lead_create"),
    path("leads/<int:lead_id>/", views.lead_detail_view, name="lead_detail"),
    path("leads/<int:lead_id>/edit/", views.lead_edit_view, name="lead_edit"),
    path("leads/<int:lead_id>/qualify/", views.lead_qualify_view, name="lead_qualify"),
    path("leads/<int:lead_id>/disqualify/", views.lead_disqualify_view, name="lead_disqualify"),
    path("leads/<int:lead_id>/convert/", views.lead_convert_view, name="lead_convert"),
    path("setup/pipelines/", views_setup.pipeline_setup, name="pipeline_setup"),
    path("setup/pipelines/<int:pipeline_id>/", views_setup.pipeline_edit, name="pipeline_edit"),
    path("setup/territories/", views_setup.territory_setup, name="territory_setup"),
    path("setup/territories/<int:territory_id>/", views_setup.territory_edit, name="territory_edit"),
    path("setup/rules/", views_setup.rule_setup, name="rule_setup"),
    path("setup/rules/<int:rule_id>/", views_setup.rule_edit, name="rule_edit"),
    path("setup/forms/", views_setup.form_setup, name="form_setup"),
    path("setup/forms/<int:form_id>/", views_setup.form_detail, name="form_detail"),
    path("", include("guanxi.sales.urls_import")),  # before urls_cash: orders/import/ is not orders/<id>/
    path("", include("guanxi.sales.urls_cash")),
    path("", include("guanxi.sales.urls_forecast")),
    path("", include("guanxi.sales.urls_expenses")),
    path("", include("guanxi.sales.urls_activities")),
]
