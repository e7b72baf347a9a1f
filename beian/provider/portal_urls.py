"""The customer's portal at /portal/ (namespace "portal")."""

from django.urls import path

from beian.provider import accounts, portal, token_pages

app_name = "portal"

urlpatterns = [
    path("", portal.dashboard, name="dashboard"),
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.PortalLogin.as_view(), name="login"),
    path("logout/", accounts.PortalLogout.as_view(), name="logout"),
    path("entities/<int:pk>/", portal.entity_detail, name="entity"),
    path("applications/new/", portal.application_new, name="application-new"),
    path("applications/<uuid:pk>/", portal.application_detail, name="application"),
    path("applications/<uuid:pk>/edit/", portal.application_edit, name="application-edit"),
    path("applications/<uuid:pk>/submit/", portal.application_submit, name="application-submit"),
    path("applications/<uuid:pk>/withdraw/", portal.application_withdraw, name="application-withdraw"),
    path("applications/<uuid:pk>/abandon/", portal.application_abandon, name="application-abandon"),
    path("applications/<uuid:pk>/copy/", portal.application_copy, name="application-copy"),
    path("tokens/", token_pages.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_pages.token_revoke, name="token-revoke"),
]
