"""Pages of the knowledge base and canned replies (included from guanxi/service/urls.py under kb/)."""

from django.urls import path

from guanxi.service import views_kb

urlpatterns = [
    path("", views_kb.kb_list_view, name="kb_list"),
    path("new/", views_kb.kb_create_view, name="kb_create"),
    path("categories/", views_kb.kb_category_create_view, name="kb_category_create"),
    path("canned/", views_kb.canned_list_view, name="canned_list"),
    path("canned/<int:reply_id>/", views_kb.canned_edit_view, name="canned_edit"),
    path("tickets/<int:ticket_id>/panel/", views_kb.kb_ticket_panel_view, name="kb_ticket_panel"),
    path("<int:article_id>/", views_kb.kb_detail_view, name="kb_detail"),
    path("<int:article_id>/edit/", views_kb.kb_edit_view, name="kb_edit"),
    path("<int:article_id>/versions/", views_kb.kb_versions_view, name="kb_versions"),
    path("<int:article_id>/versions/<int:version>/", views_kb.kb_version_view, name="kb_version"),
    path("<int:article_id>/versions/<int:version>/restore/", views_kb.kb_restore_view, name="kb_restore"),
]
