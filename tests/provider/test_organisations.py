"""Issue 15: organisation accounts. alice owns 西湖建站代理, dave edits, vera views, charlie is not in it.
Members share its filings and applications by role; an organisation keeps at least one owner; the
filings its applications bring are its own; personal accounts work as before."""

from __future__ import annotations

import pytest
from django.test import Client

from beian.core.errors import ValidationFailed
from beian.provider import applications, holders, organisations, sync
from beian.provider.errors import ProviderError
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite, Membership
from tests.provider.test_api_authorization import complete_data, org_application

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
ZJ = "浙ICP备2026000321号"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def org_entity(people, organisation) -> FiledEntity:
    entity = FiledEntity.objects.create(
        number=ZJ,
        name="杭州客户科技有限公司",
        unit_type="enterprise",
        province="33",
        status="active",
        owner=people["alice"],
        organisation=organisation,
    )
    site = FiledWebsite.objects.create(
        entity=entity,
        number=f"{ZJ}-1",
        name="客户官网",
        home_url="http://client.cn",
        status="active",
        access_state="active",
        ips=["121.40.18.10"],
    )
    FiledDomain.objects.create(website=site, name="client.cn")
    return entity


# ---------------------------------------------------------------- members


def test_the_maker_owns_the_organisation_and_adds_members(people, organisation):
    roles = dict(Membership.objects.filter(organisation=organisation).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "dave": "editor", "vera": "viewer"}


def test_members_are_named_by_an_existing_username_once(people, organisation):
    with pytest.raises(ValidationFailed) as unknown:
        organisations.add(user=people["alice"], organisation=organisation, username="nobody", role="viewer")
    assert unknown.value.errors[0].field == "username"
    with pytest.raises(ValidationFailed) as twice:
        organisations.add(user=people["alice"], organisation=organisation, username="dave", role="viewer")
    assert twice.value.errors[0].code == "already_member"
    with pytest.raises(ValidationFailed) as role:
        organisations.add(user=people["alice"], organisation=organisation, username="charlie", role="boss")
    assert role.value.errors[0].field == "role"


def test_only_owners_manage_members(people, organisation):
    with pytest.raises(ProviderError) as refused:
        organisations.add(user=people["dave"], organisation=organisation, username="charlie", role="owner")
    assert refused.value.code == "forbidden"
    with pytest.raises(ProviderError) as outsider:
        organisations.add(user=people["charlie"], organisation=organisation, username="charlie", role="owner")
    assert outsider.value.code == "not_found"


def test_an_organisation_keeps_an_owner(people, organisation):
    mine = Membership.objects.get(organisation=organisation, user=people["alice"])
    with pytest.raises(ProviderError) as demote:
        organisations.change_role(user=people["alice"], membership=mine, role="editor")
    assert demote.value.code == "transition_not_allowed"
    with pytest.raises(ProviderError):
        organisations.remove(user=people["alice"], membership=mine)
    daves = Membership.objects.get(organisation=organisation, user=people["dave"])
    organisations.change_role(user=people["alice"], membership=daves, role="owner")
    organisations.remove(user=people["alice"], membership=mine)  # dave owns it now; alice may leave
    assert not holders.reach(people["alice"]).roles


def test_a_viewer_may_leave_but_not_change_anyone(people, organisation):
    veras = Membership.objects.get(organisation=organisation, user=people["vera"])
    daves = Membership.objects.get(organisation=organisation, user=people["dave"])
    response = signed_in(people["vera"]).post(
        f"/portal/organisations/{organisation.pk}/members/{daves.pk}/", {"action": "remove"}
    )
    assert response.status_code == 403
    response = signed_in(people["vera"]).post(
        f"/portal/organisations/{organisation.pk}/members/{veras.pk}/", {"action": "remove"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=veras.pk).exists()


def test_the_portal_makes_an_organisation_and_adds_a_member(people):
    client = signed_in(people["charlie"])
    response = client.post("/portal/organisations/", {"name": "  查理的 公司 "})
    org = Membership.objects.get(user=people["charlie"]).organisation
    assert org.name == "查理的 公司"
    assert response["Location"] == f"/portal/organisations/{org.pk}/"
    page = client.post(f"/portal/organisations/{org.pk}/", {"username": "nobody", "role": "viewer"})
    assert "没有这个用户名的账号" in page.content.decode()
    client.post(f"/portal/organisations/{org.pk}/", {"username": "alice", "role": "viewer"})
    assert Membership.objects.get(organisation=org, user=people["alice"]).role == "viewer"
    empty = client.post("/portal/organisations/", {"name": ""})
    assert "请填写组织名称" in empty.content.decode()


# ---------------------------------------------------------------- sharing by role


def test_a_viewer_sees_the_application_but_cannot_submit_it(people, organisation):
    app = org_application(people, organisation, S.DRAFT)
    vera = signed_in(people["vera"])
    page = vera.get(f"/portal/applications/{app.pk}/").content.decode()
    assert 'id="viewer-note"' in page
    assert 'id="submit-card"' not in page
    assert 'id="edit-application"' not in page
    assert "西湖建站代理" in page
    response = vera.post(f"/portal/applications/{app.pk}/submit/")
    assert response.status_code == 403
    assert "查看者" in response.content.decode()
    app.refresh_from_db()
    assert app.state == S.DRAFT


def test_an_editor_submits_what_the_owner_started(people, organisation):
    app = applications.create_draft(
        owner=people["alice"], op_type="new_filing", data=complete_data(5, "shared.cn"), organisation=organisation.pk
    )
    response = signed_in(people["dave"]).post(f"/portal/applications/{app.pk}/submit/")
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    assert list(app.timeline.values_list("actor", flat=True)) == ["customer:alice", "customer:dave"]
    page = signed_in(people["vera"]).get(f"/portal/applications/{app.pk}/").content.decode()
    assert "客户 alice" in page
    assert "客户 dave" in page


def test_a_change_is_held_by_whoever_holds_the_filing(people, organisation):
    org_entity(people, organisation)
    response = signed_in(people["dave"]).post(
        "/portal/applications/new/", {"type": "change_access", "website": f"{ZJ}-1"}
    )
    assert response.status_code == 302
    app = Application.objects.get(type="change_access")
    assert app.organisation_id == organisation.pk
    assert app.owner == people["dave"]
    # Not an organisation the person is in, and not one where they only view.
    with pytest.raises(ProviderError) as viewer:
        applications.create_draft(owner=people["vera"], op_type="new_filing", organisation=organisation.pk)
    assert viewer.value.code == "forbidden"
    with pytest.raises(ProviderError) as outsider:
        applications.create_draft(owner=people["charlie"], op_type="new_filing", organisation=organisation.pk)
    assert outsider.value.errors[0].field == "organisation"


def test_the_viewer_sees_the_filings_but_is_offered_nothing_to_start(people, organisation):
    entity = org_entity(people, organisation)
    page = signed_in(people["vera"]).get(f"/portal/entities/{entity.pk}/").content.decode()
    assert "client.cn" in page
    assert 'id="viewer-note"' in page
    assert 'id="batch-form"' not in page
    assert 'id="action-new_website"' not in page
    new = signed_in(people["vera"]).get("/portal/applications/new/").content.decode()
    assert f"{ZJ}-1" not in new  # not among the websites to act on
    assert "client.cn" not in signed_in(people["charlie"]).get("/portal/filings/").content.decode()


def test_a_personal_account_has_no_account_to_choose(people):
    page = signed_in(people["charlie"]).get("/portal/applications/new/").content.decode()
    assert 'id="target-holder"' not in page
    app = applications.create_draft(owner=people["charlie"], op_type="new_filing")
    assert app.organisation_id is None


def test_the_filing_an_organisations_application_brings_is_the_organisations(people, organisation):
    app = org_application(people, organisation, S.DRAFT)
    sync.follow_website(
        {
            "number": "浙ICP备2026000555号-1",
            "name": "新网站",
            "home_url": "http://client-new.cn",
            "status": "active",
            "domains": ["client-new.cn"],
            "entity": {
                "number": "浙ICP备2026000555号",
                "name": "测试科技有限公司4号",
                "unit_type": "enterprise",
                "province": "33",
                "status": "active",
            },
            "access": {"state": "active", "ips": ["121.40.18.10"]},
        },
        version=1,
    )
    Application.objects.filter(pk=app.pk).update(state=S.BUREAU_REVIEW)
    sync.follow_operation(
        {
            "idempotency_key": str(app.pk),
            "id": "00000000-0000-4000-8000-000000000002",
            "state": "approved",
            "entity_number": "浙ICP备2026000555号",
            "website_number": "浙ICP备2026000555号-1",
        }
    )
    entity = FiledEntity.objects.get(number="浙ICP备2026000555号")
    assert entity.organisation == organisation
    assert entity.owner == people["dave"]
    assert holders.entities(people["vera"]).filter(pk=entity.pk).exists()
    assert not holders.entities(people["charlie"]).filter(pk=entity.pk).exists()


def test_a_website_an_organisation_moved_here_is_the_organisations_through_a_caught_up_page(people, organisation):
    """The feed's pages are applied together (sync.follow_websites): the filing a transfer-in of the
    organisation's brought here is handed to the organisation there too, as follow_website does."""
    number = "浙ICP备2026000777号-1"
    app = applications.create_draft(
        owner=people["dave"], op_type="transfer_in", data={"website_number": number}, organisation=organisation.pk
    )
    Application.objects.filter(pk=app.pk).update(state=S.APPROVED, website_number=number)
    snapshot = {
        "number": number,
        "name": "转入的网站",
        "home_url": "http://moved-in.cn",
        "status": "active",
        "domains": ["moved-in.cn"],
        "entity": {
            "number": "浙ICP备2026000777号",
            "name": "转入科技有限公司",
            "unit_type": "enterprise",
            "province": "33",
            "status": "active",
        },
        "access": {"state": "active", "ips": ["121.40.18.10"]},
    }
    sync.follow_websites([{"seq": 7, "kind": "website.updated", "data": snapshot}])
    entity = FiledEntity.objects.get(number="浙ICP备2026000777号")
    assert (entity.organisation, entity.owner) == (organisation, people["dave"])
    assert holders.entities(people["vera"]).filter(pk=entity.pk).exists()
