from django.urls import include, path

from guanxi.api import api
from guanxi.core import views as core_views
from guanxi.service import views_survey

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("accounts/", include("guanxi.accounts.urls")),
    path("", include("guanxi.customers.urls_import")),
    path("search/", include("guanxi.customers.urls_search")),
    path("", include("guanxi.customers.urls")),
    path("sales/", include("guanxi.sales.urls")),
    path("f/", include("guanxi.sales.urls_public")),
    path("service/", include("guanxi.service.urls")),
    path("f/", include("guanxi.service.urls_public")),
    path(
        "s/<str:token>/", views_survey.survey_public_view, name="survey_public"
    ),  # survey answer page, no sign-in
    path("analytics/", include("guanxi.analytics.urls")),
    path("contact-center/", include("guanxi.contact_center.urls")),
    path("telephony/", include("guanxi.telephony.urls")),
    path("webchat/", include("guanxi.webchat.urls")),
    path("duplicates/", include("guanxi.customers.urls_dedupe")),
    path("", include("guanxi.web.urls")),
]
