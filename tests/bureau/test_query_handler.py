"""The public query's lean handler (beian/bureau/query_handler.py, issue 10): in front of Django's
handler it gives every request the same answer Django's handler gives (status, every header, the
same bytes), keeps the public rate limit's one count, and leaves to Django whatever it does not take."""

from __future__ import annotations

import io
import json
import socket
import sys
from urllib.parse import quote, urlencode

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections

from beian.bureau import bulkload, query_handler, simulation
from beian.bureau.models import Domain, Entity, Status, Website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

PATH = "/bureau/api/v1/query"


@pytest.fixture
def registry(world, settings):
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 1_000_000
    bulkload.load(entities=40, websites=100, seed=5, provider="operator", batch=40, jobs=0)
    op = world.file("caps-name.cn")
    Entity.objects.filter(pk=op.entity_id).update(name="深圳市ABC Cloud（南山）有限公司")
    return world


@pytest.fixture(autouse=True)
def connections_kept():
    """As Django's test client does: a request's end must not close the test's connection (which
    holds the test's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def apps():
    """Django's handler alone, and the same with the lean handler in front (as beian/wsgi.py mounts it)."""
    django = WSGIHandler()
    return django, query_handler.mount(django)


def call(app, query_string: str, *, path: str = PATH, method: str = "GET", **extra) -> tuple[str, dict, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **extra,
    }
    answered: list = []
    body = app(environ, lambda status, headers, exc_info=None: answered.extend([status, headers]))
    try:
        content = b"".join(body)
    finally:
        if hasattr(body, "close"):  # optional in WSGI (PEP 3333): the plain answer is a list
            body.close()
    status, headers = answered
    return status, dict(headers), content


def both(apps, query_string: str, **extra) -> tuple[str, dict, bytes]:
    django, mounted = apps
    expected = call(django, query_string, **extra)
    assert call(mounted, query_string, **extra) == expected, query_string
    return expected


def taken(query_string: str) -> bool:
    return query_handler.shaped(query_string) is not None


def test_the_lean_handler_answers_as_django_does_by_domain_number_and_name(registry, apps):
    websites = list(Website.objects.filter(status=Status.ACTIVE).select_related("entity").order_by("pk")[:12])
    domains = list(Domain.objects.filter(active=True).values_list("name", flat=True)[:12])
    queries = [{"domain": d} for d in domains]
    queries += [{"domain": f"www.{domains[0].upper()}."}, {"domain": "nothing-filed.cn"}, {"domain": "not a domain"}]
    queries += [{"number": w.number} for w in websites] + [{"number": w.entity.number} for w in websites]
    queries += [{"number": websites[0].number.replace("ICP", "icp")}, {"number": "粤ICP备1号"}]
    queries += [{"name": w.entity.name[2:5]} for w in websites]
    queries += [{"name": "abc cloud"}, {"name": "有限"}, {"name": "犇犇"}, {"name": "a"}, {"name": "  "}]
    queries += [{"domain": domains[0], "after": "x.1"}]  # after means nothing by domain: ignored
    for params in queries:
        query_string = urlencode(params)
        assert taken(query_string), params
        status, headers, _ = both(apps, query_string)
        assert status == "200 OK"
        assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_every_page_by_name_and_number_is_the_same_through_it(registry, apps):
    for params in ({"name": "有限"}, {"number": Entity.objects.order_by("-next_website_seq")[0].number}):
        pages, after = 0, None
        while True:
            _, _, body = both(apps, urlencode({**params, **({"after": after} if after else {})}))
            after = json.loads(body)["next"]
            pages += 1
            if after is None:
                break
        assert pages >= 1


def test_the_security_headers_and_the_language_are_django_s(registry, apps, settings):
    domain = Domain.objects.filter(active=True).first().name
    _, headers, _ = both(apps, urlencode({"domain": domain}))
    for name in ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy"):
        assert name in headers
    assert headers["Content-Language"] == "zh-hans"
    _, headers, _ = both(apps, urlencode({"domain": domain}), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert headers["Content-Language"] == "en"
    settings.SECURE_HSTS_SECONDS = 3600  # read by the middleware when it is made
    django = WSGIHandler()
    apps = (django, query_handler.mount(django))
    _, headers, _ = both(apps, urlencode({"domain": domain}), **{"wsgi.url_scheme": "https", "SERVER_PORT": "443"})
    assert headers["Strict-Transport-Security"].startswith("max-age=3600")


def test_a_language_chosen_in_the_session_still_outranks_the_browser(registry, apps, client):
    from beian.language import SESSION_KEY

    session = client.session
    session[SESSION_KEY] = "en"
    session.save()
    cookie = f"sessionid={session.session_key}"
    domain = Domain.objects.filter(active=True).first().name
    _, headers, _ = both(apps, urlencode({"domain": domain}), HTTP_COOKIE=cookie, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert headers["Content-Language"] == "en"


def test_a_host_not_allowed_is_refused_as_before(registry, apps):
    status, _, _ = both(apps, "domain=example.cn", HTTP_HOST="evil.example")
    assert status.startswith("400")


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "domain=a.cn&name=ab",  # two kinds at once
        "domain=",
        "name=" + "长" * 301,  # longer than a query may be
        "domain=a%00.cn",  # NUL
        "number=%ff%fe",  # not UTF-8
        "domain=a.cn&domain=b.cn",  # the last of a repeated name, as ninja reads it
        "name=%E6%9C%89%E9%99%90&after=nonsense",  # a bad page parameter: a field error
        "domain=a.cn&unknown=1",
    ],
)
def test_what_ninja_refuses_or_reads_oddly_gets_the_same_answer(registry, apps, query_string):
    both(apps, query_string)


def test_what_it_does_not_take_goes_to_django(registry, apps):
    assert not taken("domain=a%00.cn")
    assert not taken("name=" + quote("长" * 301))
    django, mounted = apps
    for method in ("HEAD", "POST", "OPTIONS"):
        assert call(mounted, "domain=a.cn", method=method)[0] == call(django, "domain=a.cn", method=method)[0]
    assert call(mounted, "domain=a.cn", path=PATH + "/")[0] == call(django, "domain=a.cn", path=PATH + "/")[0]


def test_the_rate_limit_counts_once_whichever_handler_answers(registry, apps, settings):
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 3
    django, mounted = apps
    # A request ninja refuses field by field is refused before the limit counts, as before.
    for _ in range(4):
        assert call(mounted, "domain=a%00.cn")[0].startswith("422")
    assert call(mounted, "domain=rate.cn")[0] == "200 OK"
    assert call(django, "domain=rate.cn")[0] == "200 OK"
    assert call(mounted, "domain=rate.cn")[0] == "200 OK"
    status, headers, body = call(mounted, "domain=rate.cn")
    assert status.startswith("429")
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Retry-After"]) > 0
    assert b'"code": "rate_limited"' in body
    assert call(django, "domain=rate.cn")[:2] == (status, headers)
    # Another client has its own count.
    assert call(mounted, "domain=rate.cn", REMOTE_ADDR="203.0.113.9")[0] == "200 OK"


def test_the_simulated_outage_is_answered_alike(registry, apps):
    simulation.set_outage(True)
    status, headers, body = both(apps, "domain=example.cn")
    assert status.startswith("503")
    assert headers["Content-Type"] == "application/problem+json"
    assert b"bureau_unavailable" in body


def test_a_dropped_answer_is_dropped_through_it_as_through_django(registry, apps):
    """The simulation's faults: with every answer lost, the connection is closed once the answer is
    made, whichever handler made it (DropConnections, kept in the lean chain)."""
    simulation.set_faults(fail_share=0, drop_share=1)
    for app in apps:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.settimeout(5)
            status, _, _ = call(app, "domain=example.cn", **{"gunicorn.socket": ours})
            assert status == "200 OK"
            assert theirs.recv(1) == b""  # closed before anything was written


def _chain_refuses(monkeypatch) -> None:
    def refused(self, environ, start_response):
        raise AssertionError("answered by the middleware chain")

    monkeypatch.setattr(query_handler.QueryHandler, "__call__", refused)


def test_a_plain_request_is_answered_without_the_chain_and_one_with_a_cookie_by_it(registry, monkeypatch):
    django = WSGIHandler()
    mounted = query_handler.mount(django)
    domain = Domain.objects.filter(active=True).first().name
    _chain_refuses(monkeypatch)
    for extra in ({}, {"HTTP_ACCEPT_LANGUAGE": "en"}, {"wsgi.url_scheme": "https", "SERVER_PORT": "443"}):
        assert call(mounted, urlencode({"domain": domain}), **extra) == call(
            django, urlencode({"domain": domain}), **extra
        )
    assert call(mounted, "domain=")[0].startswith("422")  # a refusal too
    with pytest.raises(AssertionError, match="middleware chain"):
        call(mounted, urlencode({"domain": domain}), HTTP_COOKIE="sessionid=x")
    with pytest.raises(AssertionError, match="middleware chain"):  # let the chain refuse it
        call(mounted, urlencode({"domain": domain}), HTTP_HOST="evil.example")


def test_the_plain_answer_redirects_to_https_as_the_chain_does(registry, settings):
    settings.SECURE_SSL_REDIRECT = True
    django = WSGIHandler()
    apps = (django, query_handler.mount(django))
    status, headers, _ = both(apps, "domain=example.cn")
    assert status.startswith("301")
    assert headers["Location"].startswith("https://")
    both(apps, "domain=example.cn", **{"wsgi.url_scheme": "https", "SERVER_PORT": "443"})


def _count(route: str, status: str) -> float:
    from beian.ops.metrics import REQUESTS

    return sum(
        s.value
        for metric in REQUESTS.collect()
        for s in metric.samples
        if s.name.endswith("_total") and s.labels == {"method": "GET", "route": route, "status": status}
    )


def test_the_plain_answer_is_counted_as_the_chain_counts_it(registry, apps):
    django, mounted = apps
    route = "/" + query_handler.resolve(PATH).route
    before = _count(route, "200"), _count(route, "422")
    call(django, "domain=example.cn")
    call(mounted, "domain=example.cn")
    call(mounted, "domain=")
    assert (_count(route, "200"), _count(route, "422")) == (before[0] + 2, before[1] + 1)


def test_a_plain_answer_is_one_statement(registry, apps, monkeypatch):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    _, mounted = apps
    # The switches are kept a second; on a loaded machine the next call may come later than that,
    # and read them again: kept an hour here, so that the count is the answer's alone.
    monkeypatch.setattr(simulation, "_FAULTS_SECONDS", 3600.0)
    simulation.forget_faults()
    call(mounted, "domain=example.cn")  # reads the switches, kept
    number = Website.objects.first().number
    with CaptureQueriesContext(connections["bureau"]) as bureau, CaptureQueriesContext(connections["default"]) as own:
        assert call(mounted, urlencode({"number": number}))[0] == "200 OK"
    assert (len(bureau), len(own)) == (1, 0), [q["sql"] for q in bureau.captured_queries]


def test_the_switches_are_read_at_most_once_a_second_and_at_once_where_set(registry):
    from beian.bureau.models import SimState

    simulation.state()
    simulation.forget_faults()
    assert not simulation.recent_faults(now=100.0).outage
    SimState.objects.filter(id=1).update(outage=True)  # as another process sets it
    assert not simulation.recent_faults(now=100.9).outage
    assert simulation.recent_faults(now=101.1).outage
    simulation.set_outage(False)  # this process: seen at once
    assert not simulation.recent_faults(now=101.2).outage


def test_a_query_string_of_raw_utf8_is_read_as_django_reads_it(registry, apps, monkeypatch):
    """A client may send the name's UTF-8 bytes unescaped; the server hands them over as a Latin-1
    string (PEP 3333) and Django decodes them as UTF-8: the plain answer must read the same name
    (issue 10: it read 'å\x8c\x97äº¬' for 北京)."""
    name = Entity.objects.filter(status=Status.ACTIVE).first().name[:2]
    raw = "name=" + name.encode().decode("iso-8859-1")
    assert query_handler.shaped(raw).name == name
    status, _, body = both(apps, raw)
    assert status == "200 OK"
    assert json.loads(body)["results"]
    _chain_refuses(monkeypatch)
    assert call(apps[1], raw)[2] == body  # answered plainly


def test_more_fields_than_django_takes_go_to_django(registry, apps, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    crowded = "&".join(f"x{i}=1" for i in range(6)) + "&domain=example.cn"
    assert not taken(crowded)
    assert both(apps, crowded)[0].startswith("400")


def test_the_request_signals_call_django_s_receivers_themselves_and_keep_the_connections_checked(monkeypatch):
    """While only Django's own receivers are connected, the plain answer calls them without the
    dispatch (issue 10), still clearing the statement log and checking every open connection's age
    and errors at a request's start and end; anything else connected gets the signals sent."""

    class Connection:
        def __init__(self):
            self.queries_log, self.checked = ["SELECT 1"], 0

        def close_if_unusable_or_obsolete(self):
            self.checked += 1

    kept = [Connection(), Connection()]
    monkeypatch.setattr(query_handler.connections, "all", lambda initialized_only=False: kept)
    # The module's autouse fixture keeps the test's connection by disconnecting close_old_connections.
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    try:
        assert query_handler._only(signals.request_started, query_handler.STARTED)
        assert query_handler._only(signals.request_finished, query_handler.FINISHED)
        query_handler._started({})
        assert [(c.queries_log, c.checked) for c in kept] == [([], 1), ([], 1)]
        query_handler._finished()
        assert [c.checked for c in kept] == [2, 2]

        heard = []

        def listener(sender, **kwargs):
            heard.append(sender)

        signals.request_started.connect(listener)
        signals.request_finished.connect(listener)
        try:
            assert not query_handler._only(signals.request_started, query_handler.STARTED)
            query_handler._started({})
            query_handler._finished()
            assert heard == [WSGIHandler, WSGIHandler]
            assert [c.checked for c in kept] == [4, 4]  # Django's receivers by the dispatch
        finally:
            signals.request_started.disconnect(listener)
            signals.request_finished.disconnect(listener)
    finally:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)


def test_the_shape_is_the_route_s_own(registry):
    """The lean handler's model has QueryParams' fields, each with the same type and limits."""
    from beian.bureau import api

    assert query_handler.Shape.model_fields.keys() == api.QueryParams.model_fields.keys()
    for name, field in api.QueryParams.model_fields.items():
        assert (query_handler.Shape.model_fields[name].annotation, query_handler.Shape.model_fields[name].metadata) == (
            field.annotation,
            field.metadata,
        )
    assert set(api.QUERY_KINDS) == set(api.QueryParams.model_fields) - {"after"}


def test_the_statement_without_django_s_cursor_wrapper_answers_the_same_and_its_errors_are_django_s(registry):
    """On PostgreSQL, with no statement log and no execute wrapper, the prepared statement runs on
    psycopg's cursor (issue 10): its rows are those through Django's wrapper, its errors Django's
    (on SQLite both ways are Django's cursor)."""
    from django.db import DatabaseError, connections
    from django.test.utils import CaptureQueriesContext

    from beian.bureau import query

    number = Website.objects.filter(status=Status.ACTIVE).first().number
    db = connections["bureau"]
    assert not db.queries_logged
    assert not db.execute_wrappers
    plain = query.by_number(number)
    with CaptureQueriesContext(db) as captured:
        logged = query.by_number(number)
    assert len(captured) == 1
    assert plain == logged
    assert plain.results
    with pytest.raises(DatabaseError):  # Django's class, not psycopg's
        query.fetch("SELECT no_such_column FROM bureau_website WHERE id = %s", [1], prepared=True)
