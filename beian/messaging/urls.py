from django.urls import path

from . import views

app_name = "messaging"

urlpatterns = [
    path("", views.index, name="index"),
    path("<path:recipient>.json", views.thread, {"suffix": True}, name="thread-json"),
    path("<path:recipient>/", views.thread, name="thread"),
]
