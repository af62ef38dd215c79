"""Complaint pages (included from guanxi/service/urls.py under complaints/); a complaint is addressed by its ticket."""

from django.urls import path

from guanxi.service import views_complaints

urlpatterns = [
    path("", views_complaints.complaint_list_view, name="complaint_list"),
    path("<int:ticket_id>/", views_complaints.complaint_detail_view, name="complaint_detail"),
    path("<int:ticket_id>/step/", views_complaints.complaint_step_view, name="complaint_step"),
]
