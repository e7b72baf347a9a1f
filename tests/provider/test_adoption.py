"""S20, adopting the filings a provider already has at the bureau: they arrive through the feed with
no holder here; a customer claims one through the portal with the code the bureau texts to the
principal's registered mobile (a wrong code is a field error, the fifth locks the claim); a
specialist assigns one from the console, recorded in the filing's history."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from beian.bureau import outbox
from beian.bureau.models import AuditRecord, Entity, Provider
from beian.bureau.models import Claim as BureauClaim
from beian.messaging import send
from beian.provider import claim_pages, sync
from beian.provider.models import Claim, FiledEntity, HolderChange
from tests.bureau.conftest import World
from tests.provider.conftest import wsgi_client
from tests.provider.test_portal_pages import signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
CLAIM_CODE = re.compile(r"认领核验码为 (\d{6})")


@pytest.fixture
def world(keys) -> World:
    return World(Provider.objects.get(slug="operator"), Provider.objects.get(slug="other"), keys)


@pytest.fixture
def portal_bureau(monkeypatch, keys):
    """The portal's pages reach the bureau in-process, with this platform's key."""
    monkeypatch.setattr(claim_pages, "BUREAU_CLIENT", lambda: wsgi_client(keys["operator"]))


@pytest.fixture
def existing(world, bureau) -> Entity:
    """A filing the operator hosted before it ran beian (made at the bureau, not through this
    platform), and the feed read: it is in the mirror and nobody here holds it."""
    op = world.file("adopted.cn")
    world.file("elsewhere.cn", provider=world.other)  # hosted by another provider: never here
    while sync.sync_once(client=bureau):
        pass
    return Entity.objects.get(number=op.result["entity_number"])


def claim_code(mobile: str) -> str:
    outbox.dispatch()
    bodies = [m.body for m in send.received(mobile) if CLAIM_CODE.search(m.body)]
    return CLAIM_CODE.search(bodies[-1])[1]


def start(client: Client, number: str):
    return client.post("/portal/claims/new/", {"entity_number": number, "holder": "personal"})


def started(client: Client, number: str) -> Claim:
    before = set(Claim.objects.values_list("pk", flat=True))
    r = start(client, number)
    assert r.status_code == 302, text(r)
    claim = Claim.objects.exclude(pk__in=before).get(state=Claim.State.PENDING)
    assert r["Location"] == f"/portal/claims/{claim.pk}/"
    return claim


def test_s20_existing_filings_arrive_through_the_feed_held_by_nobody(existing, people):
    mirrored = FiledEntity.objects.get(number=existing.number)
    assert mirrored.owner_id is None
    assert mirrored.organisation_id is None
    assert mirrored.websites.get().access_state == "active"
    assert not FiledEntity.objects.exclude(number=existing.number).exists()  # the other provider's stays there
    page = text(signed_in(people["alice"]).get("/portal/filings/"))
    assert existing.number not in page


def test_s20_a_customer_claims_a_filing_with_the_code_the_principal_received(existing, people, portal_bureau):
    alice = signed_in(people["alice"])
    claim = started(alice, existing.number + "-1")  # a website's number names its entity
    page = text(alice.get(f"/portal/claims/{claim.pk}/"))
    masked = existing.principal_mobile[:3] + "****" + existing.principal_mobile[-4:]
    assert masked in page
    assert existing.principal_mobile not in page
    assert FiledEntity.objects.get(number=existing.number).owner_id is None  # not before the code

    r = alice.post(f"/portal/claims/{claim.pk}/", {"code": claim_code(existing.principal_mobile)})
    entity = FiledEntity.objects.get(number=existing.number)
    assert r.status_code == 302
    assert r["Location"] == f"/portal/entities/{entity.pk}/"
    assert entity.owner == people["alice"]
    assert entity.organisation_id is None
    assert existing.number in text(alice.get("/portal/filings/"))
    change = HolderChange.objects.get(entity=entity)
    assert (change.how, change.actor, change.from_owner_id, change.to_owner_id) == (
        "claim",
        "customer:alice",
        None,
        people["alice"].pk,
    )
    assert Claim.objects.get(pk=claim.pk).state == Claim.State.VERIFIED
    assert AuditRecord.objects.filter(action="claim_verified", subject=f"entity:{existing.number}").count() == 1


def test_s20_a_wrong_code_is_refused_with_a_field_error_and_changes_nothing(existing, people, portal_bureau):
    alice = signed_in(people["alice"])
    claim = started(alice, existing.number)
    right = claim_code(existing.principal_mobile)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    r = alice.post(f"/portal/claims/{claim.pk}/", {"code": wrong})
    assert r.status_code == 422
    assert "核验码不正确，还可尝试 4 次" in text(r)
    assert 'id="wrap-code"' in text(r)
    assert "has-error" in text(r).split('id="wrap-code"')[0][-80:]
    assert wrong not in text(r)  # a refused code is not rendered back into the page (it may be another's)
    assert FiledEntity.objects.get(number=existing.number).owner_id is None
    assert not HolderChange.objects.exists()
    # Not a code at all: said at once, and no try spent.
    r = alice.post(f"/portal/claims/{claim.pk}/", {"code": "12ab"})
    assert r.status_code == 422
    assert "6 位数字" in text(r)
    assert BureauClaim.objects.get().wrong_attempts == 1
    # The right code still works.
    assert alice.post(f"/portal/claims/{claim.pk}/", {"code": right}).status_code == 302
    assert FiledEntity.objects.get(number=existing.number).owner == people["alice"]


def test_s20_five_wrong_codes_lock_the_claim(existing, people, portal_bureau):
    alice = signed_in(people["alice"])
    claim = started(alice, existing.number)
    right = claim_code(existing.principal_mobile)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        r = alice.post(f"/portal/claims/{claim.pk}/", {"code": wrong})
        assert r.status_code == 422
        assert f"还可尝试 {left} 次" in text(r)
    r = alice.post(f"/portal/claims/{claim.pk}/", {"code": wrong})
    assert r.status_code == 422
    assert "认领已锁定" in text(r)
    assert Claim.objects.get(pk=claim.pk).state == Claim.State.LOCKED
    assert BureauClaim.objects.get().state == BureauClaim.State.LOCKED
    # Locked: the right code no longer opens it, and a new claim of the entity is refused.
    r = alice.post(f"/portal/claims/{claim.pk}/", {"code": right})
    assert r.status_code == 302
    assert "已锁定" in text(alice.get(r["Location"]))
    r = start(alice, existing.number)
    assert r.status_code == 200
    assert "24 小时后再试" in text(r)
    assert FiledEntity.objects.get(number=existing.number).owner_id is None
    assert not HolderChange.objects.exists()


def test_claims_refused_for_filings_not_claimable_here(existing, people, portal_bureau):
    alice, charlie = signed_in(people["alice"]), signed_in(people["charlie"])
    r = start(alice, "粤ICP备")
    assert r.status_code == 200
    assert "备案号格式应为" in text(r)
    r = start(alice, "京ICP备2026999999号")  # hosted nowhere here
    assert r.status_code == 200
    assert "只能认领在本平台接入的备案" in text(r)
    claim = started(alice, existing.number)
    alice.post(f"/portal/claims/{claim.pk}/", {"code": claim_code(existing.principal_mobile)})
    r = start(charlie, existing.number)  # held now: a claim cannot take it from alice
    assert r.status_code == 200
    assert "已属于本平台的某个账号" in text(r)
    # Someone else's claim is as absent as one that does not exist.
    assert charlie.get(f"/portal/claims/{claim.pk}/").status_code == 404
    assert Claim.objects.count() == 1


def test_claim_api_at_the_bureau(existing, world):
    """The bureau's side alone: only an entity accessed with the asking provider; one code per
    idempotency key; the code goes to the registered mobile, whatever the claimant says."""
    from tests.bureau.conftest import Http

    operator, other = Http(Client(), world.keys["operator"]), Http(Client(), world.keys["other"])
    key = "7b0f3c2e-8d4b-4a53-9a57-2f8d9b8b6c11"
    r = other.post("claims", {"idempotency_key": key, "entity_number": existing.number})
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "entity_number"
    first = operator.post("claims", {"idempotency_key": key, "entity_number": existing.number})
    again = operator.post("claims", {"idempotency_key": key, "entity_number": existing.number})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["attempts_left"] == 5
    outbox.dispatch()
    assert len([m for m in send.received(existing.principal_mobile) if CLAIM_CODE.search(m.body)]) == 1
    r = operator.post(f"claims/{first.json()['id']}/confirm", {"code": "000000", "mobile": "13900000000"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "extra_forbidden"
    r = other.post(f"claims/{first.json()['id']}/confirm", {"code": claim_code(existing.principal_mobile)})
    assert r.status_code == 404  # another provider's claim
    r = operator.post(f"claims/{first.json()['id']}/confirm", {"code": claim_code(existing.principal_mobile)})
    assert r.status_code == 200
    assert r.json()["state"] == "verified"


def test_s20_a_specialist_assigns_a_filing_and_the_history_says_who_and_why(existing, people):
    bob = signed_in(people["bob"])
    entity = FiledEntity.objects.get(number=existing.number)
    url = f"/console/entities/{entity.pk}/"
    page = text(bob.get(url))
    assert existing.number in page
    assert 'id="unheld"' in page
    r = bob.post(url, {"account": "alice", "reason": "营业执照与主体一致，合同 HT-2026-001"})
    assert r.status_code == 302
    entity.refresh_from_db()
    assert entity.owner == people["alice"]
    r = bob.post(url, {"account": "charlie", "reason": "alice 将网站转交 charlie 运营（工单 88）"})
    assert r.status_code == 302
    entity.refresh_from_db()
    assert entity.owner == people["charlie"]
    history = list(HolderChange.objects.filter(entity=entity).values_list("how", "actor", "from_owner", "to_owner"))
    alice, charlie = people["alice"].pk, people["charlie"].pk
    assert history == [
        ("assignment", "specialist:bob", None, alice),
        ("assignment", "specialist:bob", alice, charlie),
    ]
    page = text(bob.get(url))
    assert "工单 88" in page
    assert "HT-2026-001" in page


def test_an_assignment_without_a_reason_or_to_no_account_changes_nothing(existing, people):
    bob = signed_in(people["bob"])
    entity = FiledEntity.objects.get(number=existing.number)
    url = f"/console/entities/{entity.pk}/"
    r = bob.post(url, {"account": "alice", "reason": "  "})
    assert r.status_code == 422
    assert "请说明指定归属的依据" in text(r)
    r = bob.post(url, {"account": "nobody", "reason": "核实过"})
    assert r.status_code == 422
    assert "没有这个账号" in text(r)
    entity.refresh_from_db()
    assert entity.owner_id is None
    assert not HolderChange.objects.exists()
    # Customers do not assign filings, not even to themselves.
    r = signed_in(people["alice"]).post(url, {"account": "alice", "reason": "我的"})
    assert r.status_code == 403
    entity.refresh_from_db()
    assert entity.owner_id is None


def test_s20_the_claimed_filing_takes_its_next_change_through_review(existing, people, portal_bureau, bureau):
    """Before the claim nobody here may change the filing; after it, alice's change goes through
    the specialist's review to the bureau as any other."""
    from beian.bureau.models import Operation
    from beian.provider import delivery
    from beian.provider.models import Application
    from tests.provider.test_portal_flow import fill, start, submit

    alice = signed_in(people["alice"])
    website_number = f"{existing.number}-1"
    r = alice.post("/portal/applications/new/", {"type": "change_website", "website": website_number})
    assert r.status_code == 200
    assert not Application.objects.exists()
    claim = started(alice, existing.number)
    alice.post(f"/portal/claims/{claim.pk}/", {"code": claim_code(existing.principal_mobile)})

    app = start(alice, "change_website", website=website_number)
    fill(alice, app, {"website_number": website_number, "website-name": "认领后的新名称", "action": "review"})
    submit(alice, app)
    bob = signed_in(people["bob"])
    assert bob.post(f"/console/applications/{app.pk}/approve/").status_code == 302
    assert delivery.deliver_due(client=bureau) == 1
    app.refresh_from_db()
    op = Operation.objects.get(pk=app.bureau_operation_id)
    assert (op.type, op.website.number) == ("change_website", website_number)


def test_two_customers_claim_the_same_filing_and_exactly_one_gets_it(existing, people, portal_bureau):
    alice, charlie = signed_in(people["alice"]), signed_in(people["charlie"])
    first, second = started(alice, existing.number), started(charlie, existing.number)
    outbox.dispatch()
    codes = CLAIM_CODE.findall(" ".join(m.body for m in send.received(existing.principal_mobile)))
    bureau_claims = {c.idempotency_key: c for c in BureauClaim.objects.all()}
    assert len(codes) == 2
    assert set(bureau_claims) == {first.pk, second.pk}
    # Each code belongs to its own claim; the principal gives charlie's too (both right), alice first.
    ok = []
    for client, claim in ((alice, first), (charlie, second)):
        for code in codes:
            r = client.post(f"/portal/claims/{claim.pk}/", {"code": code})
            if r.status_code == 302 and "/portal/entities/" in r["Location"]:
                ok.append(claim.user.username)
                break
            if "刚刚已归属其他账号" in text(r):
                ok.append(f"refused:{claim.user.username}")
                break
    assert ok == ["alice", "refused:charlie"]
    assert FiledEntity.objects.get(number=existing.number).owner == people["alice"]
    assert HolderChange.objects.count() == 1


def test_claim_codes_expire_and_are_limited_per_day(existing, world, sim_clock):
    import uuid
    from datetime import timedelta

    from tests.bureau.conftest import Http

    operator = Http(Client(), world.keys["operator"])
    made = [
        operator.post("claims", {"idempotency_key": str(uuid.uuid4()), "entity_number": existing.number})
        for _ in range(5)
    ]
    assert [r.status_code for r in made] == [201] * 5
    r = operator.post("claims", {"idempotency_key": str(uuid.uuid4()), "entity_number": existing.number})
    assert r.status_code == 429
    assert r.json()["code"] == "claims_exhausted"
    code = claim_code(existing.principal_mobile)  # the last code sent: the fifth claim's
    sim_clock.advance(timedelta(hours=24))
    r = operator.post(f"claims/{made[-1].json()['id']}/confirm", {"code": code})
    assert r.status_code == 410
    assert r.json()["errors"][0]["field"] == "code"
    assert BureauClaim.objects.get(pk=made[-1].json()["id"]).state == BureauClaim.State.EXPIRED
    # A day later codes may be sent again.
    sim_clock.advance(timedelta(minutes=1))
    r = operator.post("claims", {"idempotency_key": str(uuid.uuid4()), "entity_number": existing.number})
    assert r.status_code == 201


def test_the_claim_is_refused_in_english_for_an_english_reader(people):
    """S22 holds for S20: a refused claim is said in English on an English page."""
    r = signed_in(people["alice"]).post(
        "/portal/claims/new/",
        {"entity_number": "京ICP备2026999999号", "holder": "personal"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert r.status_code == 200
    assert "only those can be claimed" in text(r)


def test_a_claim_while_the_bureau_is_unreachable_says_so_and_changes_nothing(existing, people, settings):
    settings.BEIAN_BUREAU_URL = "http://127.0.0.1:9/bureau/api/v1"  # nothing listens there
    alice = signed_in(people["alice"])
    r = start(alice, existing.number)
    assert r.status_code == 302
    assert r["Location"] == "/portal/claims/new/"
    assert "管局系统暂不可用" in text(alice.get(r["Location"]))
    assert not Claim.objects.filter(state=Claim.State.PENDING).exists()
    assert not BureauClaim.objects.exists()
    assert FiledEntity.objects.get(number=existing.number).owner_id is None
