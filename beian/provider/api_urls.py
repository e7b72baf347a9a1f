"""The provider's JSON API at /api/v1/ (see `beian.provider.api`)."""

from django.urls import path

from beian.provider.api import api

urlpatterns = [path("", api.urls)]
