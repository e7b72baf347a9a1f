from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from beian import language
from beian.ops import views as ops

urlpatterns = [
    path("", RedirectView.as_view(url="/portal/", permanent=False)),
    path("api/v1/", include("beian.provider.api_urls")),
    path("portal/", include("beian.provider.portal_urls")),
    path("console/", include("beian.provider.console_urls")),
    path("bureau/", include("beian.bureau.urls")),
    path("messages/", include("beian.messaging.urls")),
    path("enforcement/", include("beian.enforcement.urls")),
    path("admin/", admin.site.urls),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics_view, name="metrics"),
    path("i18n/setlang/", language.set_language, name="set_language"),
]
