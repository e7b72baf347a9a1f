from django.urls import path

from beian.enforcement import operators, views

app_name = "enforcement"

urlpatterns = [
    path("", operators.serving, name="serving"),
    path("check", views.check, name="check"),
    path("ask", views.ask, name="ask"),
    path("blocked", views.blocked, name="blocked"),
    path("nginx-map", views.nginx_map, name="nginx-map"),
]
