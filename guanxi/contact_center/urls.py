from django.urls import path

from guanxi.contact_center import views

app_name = "contact_center"
urlpatterns = [
    path("", views.console_view, name="console"),
    path("offers/", views.console_offers_view, name="offers"),
    path("wallboard/", views.wallboard_view, name="wallboard"),
    path("presence/", views.presence_view, name="presence"),
    path("offers/<int:reservation_id>/accept/", views.offer_accept_view, name="offer_accept"),
    path("offers/<int:reservation_id>/reject/", views.offer_reject_view, name="offer_reject"),
    path("tasks/<int:task_id>/wrap-up/", views.task_wrap_up_view, name="task_wrap_up"),
    path("tasks/<int:task_id>/complete/", views.task_complete_view, name="task_complete"),
    path("tasks/<int:task_id>/customer/", views.create_customer_view, name="task_customer"),
    path("conversations/<int:conversation_id>/messages/", views.console_messages_view, name="messages"),
    path("conversations/<int:conversation_id>/reply/", views.reply_view, name="reply"),
]
