from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from beian import language
from beian.ops import views as ops

# The parts this deployment serves (settings.BEIAN_DEPLOYMENT); include() imports at once, so a
# part not served is never imported (its app is not installed).
urlpatterns = []
if settings.SERVES_PROVIDER:
    urlpatterns += [
        path("", RedirectView.as_view(url="/portal/", permanent=False)),
        path("api/v1/", include("beian.provider.api_urls")),
        path("portal/", include("beian.provider.portal_urls")),
        path("console/", include("beian.provider.console_urls")),
        path("enforcement/", include("beian.enforcement.urls")),
    ]
if settings.SERVES_BUREAU:
    urlpatterns.append(path("bureau/", include("beian.bureau.urls")))
    if not settings.SERVES_PROVIDER:
        urlpatterns.append(path("", RedirectView.as_view(url="/bureau/", permanent=False)))
urlpatterns += [
    path("messages/", include("beian.messaging.urls")),
    path("admin/", admin.site.urls),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics_view, name="metrics"),
    path("i18n/setlang/", language.set_language, name="set_language"),
]

# An uncaught error: 503 with Retry-After while the database is failing (a restart, a failover),
# else 500 (beian/ops/unavailable.py).
handler500 = "beian.ops.unavailable.server_error"
