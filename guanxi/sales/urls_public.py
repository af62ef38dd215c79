from django.urls import path

from guanxi.sales import views_public

app_name = "sales_public"
urlpatterns = [path("leads/<str:token>/", views_public.lead_form_view, name="lead_form")]
