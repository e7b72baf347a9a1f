"""The customer's portal at /portal/ (namespace "portal")."""

from django.urls import path

from beian.provider import accounts, claim_pages, lists, organisation_pages, portal, token_pages

app_name = "portal"

urlpatterns = [
    path("", lists.overview, name="dashboard"),
    path("applications/", lists.application_list, name="applications"),
    path("applications/discard/", lists.discard, name="applications-discard"),
    path("filings/", lists.filing_list, name="filings"),
    path("exports/applications.<str:fmt>", lists.export_applications, name="export-applications"),
    path("exports/filings.<str:fmt>", lists.export_filings, name="export-filings"),
    path("organisations/", organisation_pages.organisation_list, name="organisations"),
    path("organisations/<int:pk>/", organisation_pages.organisation_detail, name="organisation"),
    path("organisations/<int:pk>/members/<int:member>/", organisation_pages.membership_change, name="membership"),
    path("entities/<int:pk>/batch/", lists.entity_batch, name="entity-batch"),
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
    path("claims/new/", claim_pages.claim_new, name="claim-new"),
    path("claims/<uuid:pk>/", claim_pages.claim_detail, name="claim"),
    path("tokens/", token_pages.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_pages.token_revoke, name="token-revoke"),
]
