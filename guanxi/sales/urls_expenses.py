"""Pages of expense claims (报销); included from ``sales/urls.py``."""

from django.urls import path

from guanxi.sales import views_expenses as v

urlpatterns = [
    path("expenses/", v.claim_list_view, name="expense_list"),
    path("expenses/new/", v.claim_create_view, name="expense_create"),
    path("expenses/<int:claim_id>/", v.claim_detail_view, name="expense_detail"),
    path("expenses/<int:claim_id>/edit/", v.claim_edit_view, name="expense_edit"),
    path("expenses/<int:claim_id>/action/", v.claim_action_view, name="expense_action"),
    path("expenses/<int:claim_id>/receipts/", v.receipt_upload_view, name="expense_receipt_upload"),
    path("expenses/<int:claim_id>/receipts/<int:receipt_id>/", v.receipt_view, name="expense_receipt"),
]
