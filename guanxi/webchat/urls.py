from django.urls import path

from guanxi.webchat import views

app_name = "webchat"
urlpatterns = [
    path("", views.widgets_view, name="widgets"),
    path("widget.js", views.widget_script_view, name="script"),
    path("<int:widget_id>/active/", views.widget_active_view, name="widget_active"),
]
