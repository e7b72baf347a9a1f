from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/bureau/", permanent=False)),
    path("bureau/", include("beian.bureau.urls")),
    path("messages/", include("beian.messaging.urls")),
]
