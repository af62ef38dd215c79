"""Pages of activities (销售活动); included from ``sales/urls.py``. The iCal feed is public (its token is the key)."""

from django.urls import path

from guanxi.sales import views_activities as v

urlpatterns = [
    path("activities/", v.activity_list_view, name="activity_list"),
    path("activities/new/", v.activity_create_view, name="activity_create"),
    path("activities/calendar/", v.calendar_view, name="activity_calendar"),
    path("activities/notifications/", v.notification_list_view, name="activity_notifications"),
    path("activities/notifications/count/", v.notification_count_view, name="activity_notice_count"),
    path("activities/settings/", v.activity_settings_view, name="activity_settings"),
    path("activities/ical/<str:token>.ics", v.activity_ical_view, name="activity_ical"),
    path("activities/<int:activity_id>/", v.activity_detail_view, name="activity_detail"),
    path("activities/<int:activity_id>/edit/", v.activity_edit_view, name="activity_edit"),
    path("activities/<int:activity_id>/complete/", v.activity_complete_view, name="activity_complete"),
    path("activities/<int:activity_id>/status/", v.activity_status_view, name="activity_status"),
    path("activities/<int:activity_id>/delete/", v.activity_delete_view, name="activity_delete"),
]
