from django.urls import path

from beian.enforcement import views

app_name = "enforcement"

urlpatterns = [
    path("check", views.check, name="check"),
    path("ask", views.ask, name="ask"),
    path("blocked", views.blocked, name="blocked"),
    path("nginx-map", views.nginx_map, name="nginx-map"),
]
