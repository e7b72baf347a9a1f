"""The bureau console's search of the registry (issue 12): by domain, filing number and part of an
entity's name, through the public query's indexed search, with each entity's operations; staff only."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from beian.bureau.models import Reviewer
from tests.bureau.test_pages_console import PASSWORD, _text
from tests.bureau.test_pages_console import reviewer as reviewer
from tests.bureau.test_pages_console import staff as staff

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture
def filed(world):
    return [world.file("search-one.cn"), world.file("search-two.cn")]


def test_search_by_domain_number_and_name(staff, filed):
    one, two = filed
    page = _text(staff.get("/bureau/console/search/", {"kind": "domain", "q": "www.search-one.cn"}))
    assert one.result["website_number"] in page
    assert two.result["website_number"] not in page
    assert f"/bureau/console/operations/{one.pk}/" in page  # the operation that filed it
    page = _text(staff.get("/bureau/console/search/", {"kind": "number", "q": two.result["entity_number"]}))
    assert two.result["website_number"] in page
    assert one.result["website_number"] not in page
    page = _text(staff.get("/bureau/console/search/", {"kind": "name", "q": "测试科技"}))
    assert one.result["website_number"] in page
    assert two.result["website_number"] in page


def test_bad_input_is_a_field_error(staff, filed):
    r = staff.get("/bureau/console/search/", {"kind": "number", "q": "粤ICP备"})
    assert r.status_code == 422
    assert "备案号格式应为" in _text(r)
    r = staff.get("/bureau/console/search/", {"kind": "name", "q": "测"})
    assert r.status_code == 422
    assert "至少填写 2 个字" in _text(r)
    r = staff.get("/bureau/console/search/", {"kind": "name", "q": "测试", "after": "nonsense"})
    assert r.status_code == 200
    assert 'id="search-results"' not in _text(r)


def test_a_provincial_reviewer_sees_only_their_provinces_operations(world, filed):
    Reviewer.objects.create(username="zj", name="浙江审核员", password=make_password(PASSWORD), province_id="33")
    client = Client()
    client.post("/bureau/console/login/", {"username": "zj", "password": PASSWORD})
    one = filed[0]
    page = _text(client.get("/bureau/console/search/", {"kind": "domain", "q": "search-one.cn"}))
    assert one.result["website_number"] in page
    assert f"/bureau/console/operations/{one.pk}/" not in page


def test_staff_only(client):
    r = client.get("/bureau/console/search/", {"kind": "domain", "q": "search-one.cn"})
    assert r.status_code in (302, 303)
