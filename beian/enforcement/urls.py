from django.urls import path

from beian.enforcement import feed_views, operators, views

app_name = "enforcement"

urlpatterns = [
    path("", operators.serving, name="serving"),
    path("check", views.check, name="check"),
    path("ask", views.ask, name="ask"),
    path("blocked", views.blocked, name="blocked"),
    path("nginx-map", views.nginx_map, name="nginx-map"),
    path("feed/snapshot", feed_views.snapshot, name="feed-snapshot"),
    path("feed/changes", feed_views.changes, name="feed-changes"),
    path("feed/served", feed_views.served, name="feed-served"),
    path("feed/openapi.json", feed_views.openapi, name="feed-openapi"),
]
