"""English throughout (issue 13): a crawl of every portal, console, bureau, operators' and message
sandbox page, signed in as each role, in both languages. In English no CJK character is left outside
the filing data (names, addresses, filing numbers as entered, messages as received); in Chinese the
same pages render too. The compiled catalogue translates every msgid."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from beian.bureau import models as bureau_models
from beian.demo import world as demo
from beian.messaging.models import Message
from beian.provider import applications
from beian.provider import models as provider_models

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")
# Filing numbers are filing data wherever they appear, examples in help texts included.
FILING_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,2}ICP[备证]\d+号(?:-\d+)?|%?\(?short\)?s?ICP备\d+号")
CRAWLED = ("/portal/", "/console/", "/bureau/", "/enforcement/", "/messages/")
NEVER = ("/logout/", "/bureau/api/", "/bureau/sim/", "/api/", "/enforcement/check", "/enforcement/ask", ".json")
PAGE_LIMIT = 120


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True


class _Text(HTMLParser):
    """What a person reads on the page: text, and the attributes a browser shows."""

    SHOWN = ("title", "placeholder", "aria-label", "alt")

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0
        self._skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        # The script and style, and what is marked as Chinese on purpose: the language switch
        # names Chinese in Chinese (简体中文), so that a Chinese reader finds the way back.
        if tag in ("script", "style") or (tag != "html" and (found.get("lang") or "").startswith("zh")):
            self._skip += 1
            self._skipping.append(tag)
        self.parts += [found[name] for name in self.SHOWN if found.get(name)]
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self.parts.append(found["value"])
        if tag == "a" and found.get("href"):
            self.links.append(found["href"])

    def handle_endtag(self, tag):
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _filing_data() -> list[str]:
    """Every string a person entered or a message carried: shown as entered, in any language."""
    values: set[str] = set()

    def walk(item):
        if isinstance(item, str):
            values.add(item)
        elif isinstance(item, dict):
            for v in item.values():
                walk(v)
        elif isinstance(item, list):
            for v in item:
                walk(v)

    for model in (
        bureau_models.Entity,
        bureau_models.Website,
        bureau_models.Provider,
        bureau_models.Reviewer,
        bureau_models.Operation,
        bureau_models.HolidayDay,
        provider_models.Application,
        provider_models.FiledEntity,
        provider_models.FiledWebsite,
        provider_models.TimelineEntry,
        provider_models.Organisation,
        get_user_model(),
        Message,
    ):
        for row in model.objects.all().values():
            walk(list(row.values()))
    # A message is shown as received, in whatever language it was sent: every run of CJK in one is data.
    for body, subject in Message.objects.values_list("body", "subject"):
        values.update(CJK.findall(FILING_NUMBER.sub(" ", f"{body} {subject}")))
    values.discard("")
    # Longest first, so that a name is removed whole before any shorter name inside it.
    return sorted(values, key=len, reverse=True)


def _leftover_cjk(text: str, data: list[str]) -> list[str]:
    text = FILING_NUMBER.sub(" ", text)
    for value in data:
        if CJK.search(value):
            text = text.replace(value, " ")
    return CJK.findall(text)


def crawl(client: Client, seeds: tuple[str, ...]) -> dict[str, str]:
    """path → the text a person reads, for every page reachable from the seeds by GET."""
    seen: dict[str, str] = {}
    todo = deque(seeds)
    while todo and len(seen) < PAGE_LIMIT:
        path = todo.popleft()
        if path in seen:
            continue
        response = client.get(path)
        if response.status_code in (301, 302, 303):
            todo.append(urlsplit(response["Location"]).path)
            seen[path] = ""
            continue
        assert response.status_code in (200, 404, 410), (path, response.status_code)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        parser = _Text()
        parser.feed(response.content.decode())
        seen[path] = " ".join(parser.parts)
        for href in parser.links:
            target = urlsplit(urljoin(path, href))
            if target.netloc and target.netloc not in ("testserver", urlsplit(settings.BEIAN_PUBLIC_URL).netloc):
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if link.startswith(CRAWLED) and not any(bad in link for bad in NEVER) and link not in seen:
                todo.append(link)
    return seen


@pytest.fixture
def demo_world(sim_clock):
    """The demo world, and alice's applications in several states and of every kind of page."""
    demo.create()
    alice = get_user_model().objects.get(username="alice")
    entity = provider_models.FiledEntity.objects.filter(owner=alice).first()
    site = provider_models.FiledWebsite.objects.filter(entity=entity).first()
    applications.create_draft(owner=alice, op_type="new_filing", data={})
    change = applications.create_draft(
        owner=alice, op_type="change_website", data={"website_number": site.number, "website": {"name": "新名称"}}
    )
    applications.submit(app=change, user=alice)
    applications.create_draft(owner=alice, op_type="cancel_website", data={"website_number": site.number})
    return alice


def _client(role: str | None, language: str) -> Client:
    client = Client()
    if role == "reviewer":
        r = client.post("/bureau/console/login/", {"username": "reviewer", "password": demo.REVIEWER[1]})
        assert r.status_code in (302, 303)
    elif role is not None:
        client.force_login(get_user_model().objects.get(username=role))
    r = client.post("/i18n/setlang/", {"language": language, "next": "/"})
    assert r.status_code == 302
    return client


ROLES = {
    None: ("/portal/login/", "/portal/signup/", "/console/login/", "/bureau/", "/messages/"),
    "alice": ("/portal/", "/portal/tokens/", "/portal/applications/new/", "/bureau/"),
    "bob": ("/console/",),
    "oscar": ("/enforcement/",),
    "reviewer": ("/bureau/console/", "/bureau/console/recoveries/"),
}


@pytest.mark.parametrize("role", list(ROLES), ids=[r or "anonymous" for r in ROLES])
def test_every_page_in_english_has_no_cjk_outside_filing_data(demo_world, role):
    pages = crawl(_client(role, "en"), ROLES[role])
    assert len(pages) >= len(ROLES[role])
    data = _filing_data()
    found = {path: left for path, text in pages.items() if (left := _leftover_cjk(text, data))}
    assert not found, "\n".join(f"{path}: {' | '.join(left[:8])}" for path, left in found.items())


@pytest.mark.parametrize("role", list(ROLES), ids=[r or "anonymous" for r in ROLES])
def test_every_page_in_chinese_renders_in_chinese(demo_world, role):
    pages = crawl(_client(role, "zh-hans"), ROLES[role])
    shown = {path: text for path, text in pages.items() if text}
    assert shown
    english_only = [path for path, text in shown.items() if not CJK.search(text)]
    assert not english_only


# Pages a crawl by links does not reach: an answer, a refusal, a problem, a province named, in English.
BUREAU_PROBLEMS = (
    ("/bureau/query/?kind=number&q=粤ICP备2024000001号&after=not-a-cursor", 200, "page parameter"),
    ("/bureau/query/?kind=number&q=not-a-number", 200, "number"),
    ("/bureau/query/?kind=domain&q=demo-tech.cn", 200, "Enterprise"),  # a query's answer
    ("/bureau/recovery/?mail_province=44", 200, "Guangdong"),
    ("/bureau/recovery/form/?province=44", 409, "Guangdong"),
    ("/bureau/recovery/form/", 404, "Zhejiang"),
)


@pytest.mark.parametrize(("path", "status", "said"), BUREAU_PROBLEMS)
def test_the_bureaus_problems_and_provinces_are_in_english(demo_world, path, status, said):
    response = _client(None, "en").get(path)
    assert response.status_code == status
    parser = _Text()
    parser.feed(response.content.decode())
    text = " ".join(parser.parts)
    assert said in text
    assert not _leftover_cjk(text, _filing_data()), path


def test_the_bureaus_form_errors_are_in_english(demo_world):
    """Errors a core check gives (a mobile number, a filing number) carry their English twin."""
    client = _client(None, "en")
    pages = [
        client.post("/bureau/verify/", {"operation": "x", "mobile": "123", "id_last6": "1", "code": "1"}),
        client.post("/bureau/recovery/", {"province": "44", "entity_number": "not-a-number", "cert_number": "1"}),
    ]
    for response in pages:
        parser = _Text()
        parser.feed(response.content.decode())
        text = " ".join(parser.parts)
        assert "errorlist" in response.content.decode()
        assert not _leftover_cjk(text, _filing_data()), response.request["PATH_INFO"]


def test_every_msgid_has_an_english_translation():
    """Over the compiled catalogue: a string marked for translation but not translated fails here
    (docs/i18n.md says how to add one)."""
    from django.utils.translation import trans_real

    po = Path(settings.BASE_DIR) / "beian" / "locale" / "en" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert mo.exists(), "the English catalogue is not compiled: run `make` (it runs compilemessages)"
    assert mo.stat().st_mtime >= po.stat().st_mtime, "django.mo is older than django.po: run `make`"
    catalog = trans_real.translation("en")._catalog  # the compiled messages Django itself reads
    msgids = _msgids(po)
    assert len(msgids) > 500
    untranslated = [m for m in msgids if not catalog.get(m) and not catalog.get((m, 0))]
    assert not untranslated, untranslated[:20]
    chinese_left = [m for m in msgids if _leftover_cjk(str(catalog.get(m) or catalog.get((m, 0)) or ""), [])]
    assert not chinese_left, chinese_left[:20]


def _msgids(po: Path) -> list[str]:
    """The msgids of a .po file (one line each: the catalogue is made with --no-wrap)."""
    found = []
    for line in po.read_text(encoding="utf-8").splitlines():
        if line.startswith('msgid "') and line != 'msgid ""':
            found.append(line[len('msgid "') : -1].encode().decode("unicode_escape").encode("latin-1").decode())
    return found


def test_the_catalogue_holds_every_marked_string_of_the_source(tmp_path, settings, monkeypatch):
    """`make messages` on a copy of the source finds no msgid that the committed .po lacks, and the
    .po keeps none that the source no longer marks: a string marked and never added to the catalogue
    would show Chinese on an English page, and would escape the test above."""
    import shutil

    from django.core.management import call_command

    source = Path(settings.BASE_DIR) / "beian"
    copy = tmp_path / "beian"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.so", "*.c"))
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["en"], no_wrap=True, no_location=True, verbosity=0)
    committed = set(_msgids(source / "locale" / "en" / "LC_MESSAGES" / "django.po"))
    marked = set(_msgids(copy / "locale" / "en" / "LC_MESSAGES" / "django.po"))
    assert not marked - committed, f"marked but not in the .po (run `make messages`): {sorted(marked - committed)[:20]}"
    assert not committed - marked, f"in the .po but no longer marked: {sorted(committed - marked)[:20]}"
