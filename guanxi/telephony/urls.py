from django.urls import path

from guanxi.telephony import views

app_name = "telephony"
urlpatterns = [
    path("calls/", views.call_list_view, name="call_list"),
    path("calls/<int:call_id>/", views.call_detail_view, name="call_detail"),
    path("calls/<int:call_id>/status/", views.call_status_view, name="call_status"),
    path("calls/<int:call_id>/recording/", views.recording_view, name="recording"),
    path("calls/<int:call_id>/recording/verify/", views.recording_verify_view, name="recording_verify"),
    path("customers/<int:customer_id>/call/", views.click_to_call_view, name="click_to_call"),
    path("outbound/", views.outbound_list_view, name="outbound_list"),
    path("outbound/<int:list_id>/", views.outbound_detail_view, name="outbound_detail"),
    path("outbound/<int:list_id>/close/", views.outbound_close_view, name="outbound_close"),
    path(
        "outbound/<int:list_id>/entries/<int:entry_id>/call/", views.outbound_call_view, name="outbound_call"
    ),
    path(
        "outbound/<int:list_id>/entries/<int:entry_id>/skip/", views.outbound_skip_view, name="outbound_skip"
    ),
    path(
        "outbound/<int:list_id>/entries/<int:entry_id>/result/",
        views.outbound_result_view,
        name="outbound_result",
    ),
    path("ivr/", views.ivr_list_view, name="ivr_list"),
    path("ivr/<int:menu_id>/", views.ivr_menu_view, name="ivr_menu"),
    path("ivr/<int:menu_id>/number/", views.ivr_number_view, name="ivr_number"),
    path("ivr/<int:menu_id>/nodes/<slug:key>/delete/", views.ivr_node_delete_view, name="ivr_node_delete"),
    path("ivr/<int:menu_id>/nodes/<slug:key>/audio/", views.ivr_node_audio_view, name="ivr_node_audio"),
]
