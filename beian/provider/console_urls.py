"""The filing specialists' console at /console/ (namespace "console")."""

from django.urls import path

from beian.provider import accounts, console, console_filings, console_lists

app_name = "console"

urlpatterns = [
    path("", console.queue, name="queue"),
    path("login/", accounts.ConsoleLogin.as_view(), name="login"),
    path("logout/", accounts.ConsoleLogout.as_view(), name="logout"),
    path("applications/<uuid:pk>/", console.application, name="application"),
    path("applications/<uuid:pk>/claim/", console.claim, name="claim"),
    path("applications/<uuid:pk>/approve/", console.approve, name="approve"),
    path("applications/<uuid:pk>/return/", console.return_, name="return"),
    path("entities/<int:pk>/", console_filings.entity, name="entity"),
    path("import/", console_filings.import_customers, name="import"),
    path("applications/", console_lists.applications, name="applications"),
    path("filings/", console_lists.filings, name="filings"),
    path("exports/applications.csv", console_lists.export_applications, name="export-applications"),
    path("exports/mirror.csv", console_lists.export_filings, name="export-filings"),
    path("deliveries/", console_lists.deliveries, name="deliveries"),
    path("deliveries/<int:pk>/retry/", console_lists.delivery_retry, name="delivery-retry"),
]
