from django.urls import include, path

from beian.bureau import views
from beian.bureau.api import api
from beian.bureau.sim_api import sim

# The HTML pages live in their own namespace ("bureau:…"), so that the two APIs keep theirs
# ("bureau-api", "bureau-sim") unnested: django-ninja reverses its docs by that name.
pages = [
    path("", views.home, name="home"),
    path("query/", views.public_query, name="query"),
    path("verify/", views.verify, name="verify"),
    path("recovery/", views.password_recovery, name="recovery"),
    path("recovery/form/", views.recovery_form, name="recovery-form"),
    path("console/", views.console, name="console"),
    path("console/login/", views.login, name="login"),
    path("console/logout/", views.logout, name="logout"),
    path("console/operations/<uuid:pk>/", views.operation_detail, name="operation"),
    path("console/recoveries/", views.mailed_recoveries, name="recoveries"),
    path("console/search/", views.console_search, name="console-search"),
]

urlpatterns = [
    path("api/v1/", api.urls),
    path("sim/v1/", sim.urls),
    path("", include((pages, "bureau"))),
]
