from django.urls import path

from guanxi.accounts import views, views_members

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_2fa_view, name="login_2fa"),
    path("logout/", views.logout_view, name="logout"),
    path("signup/", views.signup_view, name="signup"),
    path("password/reset/", views.password_reset_view, name="password_reset"),
    path("password/reset/sent/", views.password_reset_sent_view, name="password_reset_sent"),
    path(
        "password/reset/<str:uidb64>/<str:token>/",
        views.password_reset_confirm_view,
        name="password_reset_confirm",
    ),
    path("security/", views.security_view, name="security"),
    path("security/2fa/", views.totp_enrol_view, name="totp_enrol"),
    path("security/2fa/disable/", views.totp_disable_view, name="totp_disable"),
    path("security/language/", views.language_view, name="language"),
    path("outbox/", views.outbox_list_view, name="outbox"),
    path("outbox/<int:message_id>/", views.outbox_detail_view, name="outbox_detail"),
    path("invitations/", views_members.invitation_list_view, name="invitations"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views_members.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path("invite/<str:token>/", views_members.invitation_accept_view, name="invitation_accept"),
    path("switch/", views_members.switch_workspace_view, name="switch_workspace"),
]
