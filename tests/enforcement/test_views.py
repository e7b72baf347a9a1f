"""The same contracts on the main server (answered from the database), the block page and the map."""

import pytest
from django.test import Client

from beian.enforcement import mirror
from beian.enforcement.index import ACCESS_CANCELLED, DEREGISTERED, FILED, INVALID_HOST, NOT_FILED

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture
def filed(rows):
    rows.website("example.cn")
    rows.website("gone.cn", access="ended")
    rows.deregister(rows.website("dead.cn"))
    rows.website("moving.cn", access="provisional")
    return rows


@pytest.mark.parametrize(
    ("host", "status", "reason"),
    [
        ("www.example.cn", 200, FILED),
        ("Example.CN:8080", 200, FILED),
        ("www.moving.cn", 200, FILED),
        ("badexample.cn", 403, NOT_FILED),
        ("gone.cn", 403, ACCESS_CANCELLED),
        ("www.dead.cn", 403, DEREGISTERED),
        ("1.2.3.4", 403, INVALID_HOST),
        ("a..b.cn", 403, INVALID_HOST),
    ],
)
def test_check_from_the_database(client, filed, host, status, reason):
    response = client.get("/enforcement/check", HTTP_X_ORIGINAL_HOST=host)
    assert (response.status_code, response["X-Beian-Reason"]) == (status, reason)
    assert response["Cache-Control"] == "max-age=1"


def test_check_accepts_a_post_without_csrf(filed):
    response = Client(enforce_csrf_checks=True).post("/enforcement/check", HTTP_X_ORIGINAL_HOST="example.cn")
    assert response.status_code == 200


def test_check_without_original_host_reads_host(client, filed, settings):
    settings.ALLOWED_HOSTS = ["*"]
    assert client.get("/enforcement/check", HTTP_HOST="www.example.cn").status_code == 200
    assert client.get("/enforcement/check", HTTP_HOST="nope.cn")["X-Beian-Reason"] == NOT_FILED


def test_check_refuses_a_host_header_that_is_not_ascii(client, rows):
    # As the decision server does (test_server.py): a Host is ASCII, browsers send A-labels.
    rows.website("xn--fsqu00a.xn--fiqs8s")
    assert client.get("/enforcement/check", HTTP_X_ORIGINAL_HOST="www.xn--fsqu00a.xn--fiqs8s").status_code == 200
    raw = "www.例子.中国".encode().decode("latin-1")  # as a WSGI server hands UTF-8 over
    for host in ("www.例子.中国", raw):
        response = client.get("/enforcement/check", HTTP_X_ORIGINAL_HOST=host)
        assert (response.status_code, response["X-Beian-Reason"]) == (403, INVALID_HOST)
        assert response.content == b""
        page = client.get("/enforcement/blocked", HTTP_X_ORIGINAL_HOST=host)
        assert page["X-Beian-Reason"] == INVALID_HOST


@pytest.mark.parametrize(
    ("domain", "status"), [("example.cn", 200), ("www.example.cn", 200), ("nope.cn", 403), ("", 403), ("\x00", 403)]
)
def test_ask_from_the_database(client, filed, domain, status):
    assert client.get("/enforcement/ask", {"domain": domain}).status_code == status


def test_ask_without_domain_is_refused(client):
    response = client.get("/enforcement/ask")
    assert (response.status_code, response["X-Beian-Reason"]) == (403, INVALID_HOST)


@pytest.mark.parametrize(
    ("host", "zh", "en"),
    [
        ("www.nope.cn", "网站未备案", "not filed"),
        ("gone.cn", "已取消接入", "Access cancelled"),
        ("www.dead.cn", "备案已注销", "deregistered"),
    ],
)
def test_the_block_page_says_why_in_chinese_and_english(client, filed, settings, host, zh, en):
    settings.BEIAN_BUREAU_PUBLIC_URL = "https://beian.example"
    response = client.get("/enforcement/blocked", {"host": host})
    assert response.status_code == 403
    page = response.content.decode()
    assert zh in page
    assert en in page
    assert host in page
    domain = host.removeprefix("www.")
    assert f"https://beian.example/bureau/query/?kind=domain&amp;q={domain}" in page
    assert '<header class="top">' in page  # extends base.html
    assert response["X-Beian-Reason"] in (NOT_FILED, ACCESS_CANCELLED, DEREGISTERED)


def test_the_block_page_reads_the_original_host(client, filed):
    response = client.get("/enforcement/blocked", HTTP_X_ORIGINAL_HOST="gone.cn")
    assert response.status_code == 403
    assert "已取消接入" in response.content.decode()
    # The visitor's query string cannot make the page speak of another domain.
    response = client.get("/enforcement/blocked", {"host": "example.cn"}, HTTP_X_ORIGINAL_HOST="nope.cn")
    assert response.status_code == 403
    assert "nope.cn" in response.content.decode()


def test_the_block_page_shows_an_idn_as_people_read_it(client, rows):
    rows.website("xn--fsqu00a.xn--fiqs8s", access="ended")
    page = client.get("/enforcement/blocked", {"host": "www.xn--fsqu00a.xn--fiqs8s"}).content.decode()
    assert "www.例子.中国" in page
    assert "www.xn--fsqu00a.xn--fiqs8s" in page


def test_the_block_page_for_garbage_and_for_a_filed_host(client, filed):
    garbage = client.get("/enforcement/blocked", {"host": "<script>x</script>"})
    assert garbage.status_code == 403
    assert "无效的域名" in garbage.content.decode()
    assert "<script>x" not in garbage.content.decode()
    # The edge refused it a moment before its access came back: still a refusal, with a word why.
    served = client.get("/enforcement/blocked", {"host": "example.cn"})
    assert served.status_code == 403
    assert "网站已备案" in served.content.decode()
    assert "稍后刷新" in served.content.decode()


def test_the_nginx_map(client, filed, rows):
    rows.website("two.cn", "zwei.com.cn")
    rows.website("example.cn")  # the same domain on two served websites (the bureau never allows it): once
    response = client.get("/enforcement/nginx-map")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1:3] == ["hostnames;", "default 0;"]
    assert lines[3:] == [".example.cn 1;", ".moving.cn 1;", ".two.cn 1;", ".zwei.com.cn 1;"]


def test_the_map_never_carries_a_name_that_is_no_domain(rows):
    rows.website("ok.cn")
    rows.website("bad.cn; include /etc/passwd")
    rows.website("Upper.cn")
    assert list(mirror.served_names()) == ["ok.cn"]


def test_the_database_decision_agrees_with_the_index(filed, index):
    for host in ["example.cn", "www.example.cn", "badexample.cn", "gone.cn", "dead.cn", "moving.cn", "", "a..b"]:
        assert mirror.decide(host.encode()).reason == index.reason(host.encode()), host
