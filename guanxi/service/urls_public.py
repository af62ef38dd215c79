from django.urls import path

from guanxi.service import views_public

app_name = "service_public"
urlpatterns = [path("tickets/<str:token>/", views_public.ticket_form_view, name="ticket_form")]
