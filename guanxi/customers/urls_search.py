from django.urls import path

from guanxi.customers import views_search

app_name = "search"
urlpatterns = [path("", views_search.search_view, name="search")]
