"""Pages of the satisfaction surveys (included from guanxi/service/urls.py under surveys/). The public answer page
is routed at /s/<token>/ in guanxi/urls.py."""

from django.urls import path

from guanxi.service import views_survey

urlpatterns = [
    path("", views_survey.survey_list_view, name="survey_list"),
    path("new/", views_survey.survey_create_view, name="survey_create"),
    path("<int:survey_id>/", views_survey.survey_detail_view, name="survey_detail"),
    path("<int:survey_id>/edit/", views_survey.survey_edit_view, name="survey_edit"),
    path("<int:survey_id>/send/", views_survey.survey_send_view, name="survey_send"),
]
