from django.urls import include, path

from guanxi.service import views, views_setup

app_name = "service"
urlpatterns = [
    path("", views.ticket_list_view, name="ticket_list"),
    path("tickets/new/", views.ticket_create_view, name="ticket_create"),
    path("tickets/<int:ticket_id>/", views.ticket_detail_view, name="ticket_detail"),
    path("tickets/<int:ticket_id>/messages/", views.ticket_message_view, name="ticket_message"),
    path("tickets/<int:ticket_id>/status/", views.ticket_status_view, name="ticket_status"),
    path("tickets/<int:ticket_id>/assign/", views.ticket_assign_view, name="ticket_assign"),
    path("tickets/<int:ticket_id>/priority/", views.ticket_priority_view, name="ticket_priority"),
    path("tickets/<int:ticket_id>/merge/", views.ticket_merge_view, name="ticket_merge"),
    path("tickets/<int:ticket_id>/split/", views.ticket_split_view, name="ticket_split"),
    path("attachments/<int:attachment_id>/", views.attachment_view, name="attachment"),
    path("calendars/", views_setup.calendar_list_view, name="calendar_list"),
    path("calendars/<int:calendar_id>/", views_setup.calendar_detail_view, name="calendar_detail"),
    path("calendars/<int:calendar_id>/edit/", views_setup.calendar_edit_view, name="calendar_edit"),
]
# --- knowledge base, surveys, dashboard (branch svckb) ---
urlpatterns += [
    path("kb/", include("guanxi.service.urls_kb")),
    path("surveys/", include("guanxi.service.urls_survey")),
    path("dashboard/", include("guanxi.service.urls_dashboard")),
]
# --- complaints, SLA policies and assignment rules, field visits (branch service) ---
urlpatterns += [
    path("complaints/", include("guanxi.service.urls_complaints")),
    path("", include("guanxi.service.urls_rules")),
    path("", include("guanxi.service.urls_visits")),
]
