"""A URLconf with one view whose database fails, and the project's handler500 (test_unavailable.py)."""

from django.db import OperationalError
from django.urls import path


def fails(request):
    raise OperationalError("the connection is closed")


urlpatterns = [path("fails", fails)]
handler500 = "beian.ops.unavailable.server_error"
