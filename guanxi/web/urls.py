from django.urls import path

from guanxi.web import views

app_name = "web"
urlpatterns = [
    path("", views.index, name="index"),
    path("dashboard/", views.home, name="home"),
    path("welcome/", views.no_workspace, name="no_workspace"),
    path("customers/", views.customer_list_view, name="customer_list"),
    path("customers/<int:customer_id>/", views.customer_detail_view, name="customer_detail"),
]
