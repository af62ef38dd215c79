"""Customer pages: /customers/... and the customer settings pages under /settings/."""

from django.urls import path

from guanxi.customers import views

app_name = "customers"
urlpatterns = [
    path("customers/", views.customer_list_view, name="list"),
    path("customers/new/", views.customer_create_view, name="create"),
    path("customers/bulk/", views.bulk_view, name="bulk"),
    path("customers/views/", views.savedview_save_view, name="savedview_save"),
    path("customers/views/<int:view_id>/delete/", views.savedview_delete_view, name="savedview_delete"),
    path("customers/<int:customer_id>/", views.customer_detail_view, name="detail"),
    path("customers/<int:customer_id>/edit/", views.customer_edit_view, name="edit"),
    path("customers/<int:customer_id>/delete/", views.customer_delete_view, name="delete"),
    path("customers/<int:customer_id>/timeline/", views.customer_timeline_view, name="timeline"),
    path("customers/<int:customer_id>/notes/", views.customer_note_view, name="note"),
    path("customers/<int:customer_id>/reveal/", views.customer_reveal_view, name="reveal"),
    path("customers/<int:customer_id>/tags/", views.customer_tag_add_view, name="tag_add"),
    path(
        "customers/<int:customer_id>/tags/<int:tag_id>/remove/",
        views.customer_tag_remove_view,
        name="tag_remove",
    ),
    path("settings/custom-fields/", views.customfields_view, name="settings_customfields"),
    path("settings/tags/", views.tags_view, name="settings_tags"),
]
