"""Pages of lead to cash (products, quotes, approvals, orders, returns); included from ``sales/urls.py``."""

from django.urls import path

from guanxi.sales import views_cash as v

urlpatterns = [
    path("products/", v.product_list_view, name="product_list"),
    path("products/<int:product_id>/", v.product_edit_view, name="product_edit"),
    path("products/discount-rules/", v.discount_rule_view, name="discount_rule"),
    path("price-lists/", v.pricelist_view, name="pricelist_list"),
    path("price-lists/<int:pricelist_id>/", v.pricelist_view, name="pricelist_edit"),
    path("quotes/", v.quote_list_view, name="quote_list"),
    path("quotes/new/", v.quote_create_view, name="quote_create"),
    path("quotes/<int:quote_id>/", v.quote_detail_view, name="quote_detail"),
    path("quotes/<int:quote_id>/edit/", v.quote_edit_view, name="quote_edit"),
    path("quotes/<int:quote_id>/action/", v.quote_action_view, name="quote_action"),
    path("quotes/<int:quote_id>/pdf/", v.quote_pdf_view, name="quote_pdf"),
    path("approvals/", v.approval_list_view, name="approval_list"),
    path("orders/", v.order_list_view, name="order_list"),
    path("orders/new/", v.order_create_view, name="order_create"),
    path("orders/<int:order_id>/", v.order_detail_view, name="order_detail"),
    path("orders/<int:order_id>/status/", v.order_status_view, name="order_status"),
    path("orders/<int:order_id>/returns/", v.return_create_view, name="return_create"),
    path("returns/<int:return_id>/status/", v.return_status_view, name="return_status"),
]
