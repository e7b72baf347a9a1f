from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from beian import language

urlpatterns = [
    path("", RedirectView.as_view(url="/portal/", permanent=False)),
    path("api/v1/", include("beian.provider.api_urls")),
    path("portal/", include("beian.provider.portal_urls")),
    path("console/", include("beian.provider.console_urls")),
    path("bureau/", include("beian.bureau.urls")),
    path("messages/", include("beian.messaging.urls")),
    path("enforcement/", include("beian.enforcement.urls")),
    path("admin/", admin.site.urls),
    path("i18n/setlang/", language.set_language, name="set_language"),
]
