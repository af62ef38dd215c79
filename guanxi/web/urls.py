from django.urls import path

from guanxi.web import audit_views, settings_views, views

app_name = "web"
urlpatterns = [
    path("", views.index, name="index"),
    path("dashboard/", views.home, name="home"),
    path("welcome/", views.no_workspace, name="no_workspace"),
    # workspace settings
    path("settings/", settings_views.general, name="settings"),
    path("settings/members/", settings_views.members, name="settings_members"),
    path("settings/members/<int:member_id>/role/", settings_views.member_role, name="settings_member_role"),
    path("settings/members/<int:member_id>/team/", settings_views.member_team, name="settings_member_team"),
    path(
        "settings/members/<int:member_id>/active/",
        settings_views.member_active,
        name="settings_member_active",
    ),
    path(
        "settings/members/<int:member_id>/remove/",
        settings_views.member_remove_view,
        name="settings_member_remove",
    ),
    path("settings/teams/", settings_views.teams, name="settings_teams"),
    path("settings/teams/<int:team_id>/", settings_views.team_edit, name="settings_team_edit"),
    path(
        "settings/teams/<int:team_id>/delete/", settings_views.team_delete_view, name="settings_team_delete"
    ),
    path("settings/roles/", settings_views.roles, name="settings_roles"),
    path("settings/api-keys/", settings_views.api_keys, name="settings_api_keys"),
    path("settings/audit/", audit_views.audit_list, name="settings_audit"),
]
