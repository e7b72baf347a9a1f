"""The messaging interface and its sandbox at /messages/."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives

from beian.messaging import addresses, send
from beian.messaging.backends import ConsoleSmsBackend, SandboxEmailBackend, SandboxSmsBackend
from beian.messaging.models import Message

pytestmark = pytest.mark.django_db

PHONE = "13800138000"
SANDBOX_EMAIL = "beian.messaging.backends.SandboxEmailBackend"


@pytest.fixture(autouse=True)
def _sandbox(settings):
    # pytest-django switches EMAIL_BACKEND to locmem for every test; the sandbox is what we test.
    settings.EMAIL_BACKEND = SANDBOX_EMAIL
    settings.BEIAN_SMS_BACKEND = "beian.messaging.backends.SandboxSmsBackend"
    settings.BEIAN_SIMULATION = True
    settings.DEFAULT_FROM_EMAIL = "beian@example.cn"


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+8613800138000",
        "0086 138 0013 8000",
        "8613800138000",
        "(+86) 138.0013.8000",
        " 13800138000 ",
        "＋８６ １３８００１３８０００",
    ],
)
def test_phone_spellings_are_one_recipient(spelling):
    assert addresses.phone(spelling) == PHONE
    assert addresses.normalise(spelling) == PHONE


@pytest.mark.parametrize("bad", ["", "1380013800", "23800138000", "+1 555 123 4567", "138001380001", "abc"])
def test_phone_refuses_what_is_not_a_mainland_mobile(bad):
    with pytest.raises(ValueError, match="mobile"):
        addresses.phone(bad)


def test_email_addresses_are_lower_case_and_bare():
    assert addresses.email_address(" Li.Wei@Example.CN ") == "li.wei@example.cn"
    assert addresses.email_address("李伟 <Li.Wei@Example.CN>") == "li.wei@example.cn"
    assert addresses.normalise("Li.Wei@Example.CN") == "li.wei@example.cn"
    for bad in ["", "not-an-address", "a@b@c", "li@example.cn\nBcc: x@evil.cn"]:
        with pytest.raises(ValueError, match="email"):
            addresses.email_address(bad)


# --- sending ------------------------------------------------------------------------------------


def test_sms_lands_in_the_sandbox_at_the_clock_time(clock):
    send.sms("+86 138-0013-8000", "您的验证码是 123456", sender="bureau")

    [message] = Message.objects.all()
    assert message.channel == Message.Channel.SMS
    assert message.recipient == PHONE
    assert message.sender == "bureau"
    assert message.subject == ""
    assert message.body == "您的验证码是 123456"
    assert message.created_at == clock.now()


def test_sms_to_a_bad_number_is_refused_and_nothing_is_stored():
    with pytest.raises(ValueError, match="mobile"):
        send.sms("12345", "hi", sender="bureau")
    assert not Message.objects.exists()


def test_email_lands_in_the_sandbox_with_its_fields(clock):
    send.email("Li.Wei@Example.CN", "备案审核通过", "您的网站已备案。", sender="provider")

    [message] = Message.objects.all()
    assert message.channel == Message.Channel.EMAIL
    assert message.recipient == "li.wei@example.cn"
    assert message.sender == "provider"
    assert message.subject == "备案审核通过"
    assert message.body == "您的网站已备案。"
    assert message.created_at == clock.now()


def test_email_goes_through_django_email_backend_with_from_address(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    send.email("li@example.cn", "主题", "正文", sender="bureau", from_email="noreply@beian.miit.example")
    send.email("li@example.cn", "主题", "正文", sender="provider")

    first, second = mail.outbox
    assert first.from_email == "noreply@beian.miit.example"
    assert first.to == ["li@example.cn"]
    assert first.extra_headers["X-Beian-Sender"] == "bureau"
    assert second.from_email == "beian@example.cn"
    assert not Message.objects.exists()


def test_email_with_cc_and_bcc_gives_one_row_per_address(clock):
    message = EmailMessage(
        "通知",
        "正文",
        "Provider <ops@provider.example>",
        to=["A@example.cn", "b@example.cn"],
        cc=["C@Example.cn", "a@example.cn"],
        bcc=["d@example.cn"],
        headers={"X-Beian-Sender": "provider"},
    )
    assert SandboxEmailBackend().send_messages([message]) == 1

    rows = Message.objects.all()
    assert sorted(r.recipient for r in rows) == ["a@example.cn", "b@example.cn", "c@example.cn", "d@example.cn"]
    assert {(r.channel, r.sender, r.subject, r.body) for r in rows} == {("email", "provider", "通知", "正文")}


def test_email_without_sender_header_is_from_its_from_address():
    EmailMessage("s", "b", "ops@provider.example", to=["x@example.cn"]).send()
    assert Message.objects.get().sender == "ops@provider.example"


def test_html_only_email_is_stored_as_plain_text():
    message = EmailMessage("s", "<p>您好<b>李伟</b></p>", to=["x@example.cn"])
    message.content_subtype = "html"
    message.send()
    assert Message.objects.get().body == "您好李伟"


def test_multipart_email_keeps_the_plain_text_part():
    message = EmailMultiAlternatives("s", "纯文本", to=["x@example.cn"])
    message.attach_alternative("<p>HTML</p>", "text/html")
    message.send()
    assert Message.objects.get().body == "纯文本"


def test_sandbox_email_backend_refuses_bad_addresses_unless_silent():
    bad = EmailMessage("s", "b", to=["no-at-sign"])
    with pytest.raises(ValueError, match="email"):
        SandboxEmailBackend().send_messages([bad])
    assert SandboxEmailBackend(fail_silently=True).send_messages([bad]) == 0
    assert not Message.objects.exists()


def test_sandbox_sms_backend_can_be_used_directly():
    SandboxSmsBackend().send("+8613800138000", "hi", sender="provider")
    assert Message.objects.get().recipient == PHONE


# --- reading ------------------------------------------------------------------------------------


def test_received_is_oldest_first_and_normalises_the_recipient(clock):
    send.sms(PHONE, "one", sender="bureau")
    clock.advance(timedelta(minutes=1))
    send.sms("+86 138 0013 8000", "two", sender="provider")
    clock.advance(timedelta(minutes=1))
    send.sms("13900139000", "someone else", sender="bureau")
    send.email("Li@Example.cn", "s", "mail", sender="bureau")

    assert [m.body for m in send.received("+86 138-0013-8000")] == ["one", "two"]
    assert [m.body for m in send.received("13800138000")] == ["one", "two"]
    assert [m.body for m in send.received("LI@EXAMPLE.CN")] == ["mail"]
    assert send.received("nobody@example.cn") == []
    assert send.received("") == []


def test_received_orders_same_instant_messages_by_arrival(clock):
    for n in range(3):
        send.sms(PHONE, str(n), sender="bureau")
    assert [m.body for m in send.received(PHONE)] == ["0", "1", "2"]


# --- console backend ----------------------------------------------------------------------------


def test_console_sms_backend_prints(settings, capsys, clock):
    settings.BEIAN_SMS_BACKEND = "beian.messaging.backends.ConsoleSmsBackend"
    send.sms("+86 138-0013-8000", "您的验证码是 654321", sender="bureau")

    out = capsys.readouterr().out
    assert "SMS to 13800138000 from bureau at 2026-03-02T10:00:00+08:00" in out
    assert "您的验证码是 654321" in out
    assert not Message.objects.exists()


def test_console_sms_backend_writes_to_a_given_stream():
    stream = io.StringIO()
    ConsoleSmsBackend(stream=stream).send(PHONE, "hello", sender="provider")
    assert "hello" in stream.getvalue()
    assert "from provider" in stream.getvalue()


# --- pages --------------------------------------------------------------------------------------


def _fill(clock):
    send.sms(PHONE, "第一条短信", sender="bureau")
    clock.advance(timedelta(minutes=5))
    send.email("li@example.cn", "备案通过", "邮件正文", sender="provider")
    clock.advance(timedelta(minutes=5))
    send.sms(PHONE, "第二条短信", sender="provider")
    clock.advance(timedelta(minutes=5))
    send.sms("13900139000", "别人的短信", sender="bureau")


def test_index_lists_recipients_newest_first_with_counts(client, clock):
    _fill(clock)
    response = client.get("/messages/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "模拟短信与邮箱" in html
    assert "Message sandbox" in html
    assert "nothing here was really sent" in html
    rows = [(r["recipient"], r["count"]) for r in response.context["rows"]]
    assert rows == [("13900139000", 1), (PHONE, 2), ("li@example.cn", 1)]
    assert html.index("13900139000") < html.index(PHONE) < html.index("li@example.cn")
    assert 'href="/messages/13800138000/"' in html
    assert 'href="/messages/li@example.cn/"' in html
    assert "2026-03-02 10:10:00" in html  # last time for 13800138000, in China time


def test_index_json(client, clock):
    _fill(clock)
    data = client.get("/messages/?format=json").json()
    assert data["recipients"][1] == {"recipient": PHONE, "count": 2, "last_at": "2026-03-02T10:10:00+08:00"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("+86 138-0013-8000", [PHONE]),
        ("138-001", [PHONE]),
        ("139", ["13900139000"]),
        ("LI@", ["li@example.cn"]),
        ("example", ["li@example.cn"]),
        ("nobody", []),
        ("", ["13900139000", PHONE, "li@example.cn"]),
    ],
)
def test_index_search(client, clock, query, expected):
    _fill(clock)
    response = client.get("/messages/", {"to": query})
    assert response.status_code == 200
    assert [r["recipient"] for r in response.context["rows"]] == expected


def test_index_search_for_a_whole_number_links_to_its_thread(client, clock):
    response = client.get("/messages/", {"to": "+86 137 0000 0000"})
    assert response.status_code == 200
    assert 'href="/messages/13700000000/"' in response.content.decode()


def test_empty_index(client):
    response = client.get("/messages/")
    assert response.status_code == 200
    assert response.context["rows"] == []


def test_phone_thread_newest_first(client, clock):
    _fill(clock)
    response = client.get("/messages/13800138000/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Message sandbox" in html
    assert [m.body for m in response.context["messages"]] == ["第二条短信", "第一条短信"]
    assert html.index("第二条短信") < html.index("第一条短信")
    assert "别人的短信" not in html
    assert "邮件正文" not in html


def test_thread_accepts_any_spelling_of_the_recipient(client, clock):
    _fill(clock)
    for spelling in ["+86 138-0013-8000", "+8613800138000"]:
        response = client.get(f"/messages/{spelling}/")
        assert response.status_code == 200
        assert response.context["recipient"] == PHONE
        assert len(response.context["messages"]) == 2
    response = client.get("/messages/LI@Example.CN/")
    assert response.context["recipient"] == "li@example.cn"
    assert len(response.context["messages"]) == 1


def test_email_thread_shows_subject_and_sender(client, clock):
    _fill(clock)
    html = client.get("/messages/li@example.cn/").content.decode()
    assert "备案通过" in html
    assert "邮件正文" in html
    assert "provider" in html


def test_thread_escapes_message_content(client):
    send.sms(PHONE, "<script>alert(1)</script>", sender="<b>x</b>")
    html = client.get("/messages/13800138000/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("suffix", [".json", "/?format=json"])
def test_thread_json(client, clock, suffix):
    _fill(clock)
    response = client.get(f"/messages/+86 138-0013-8000{suffix}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "recipient": PHONE,
        "messages": [
            {
                "channel": "sms",
                "sender": "provider",
                "subject": "",
                "body": "第二条短信",
                "created_at": "2026-03-02T10:10:00+08:00",
            },
            {
                "channel": "sms",
                "sender": "bureau",
                "subject": "",
                "body": "第一条短信",
                "created_at": "2026-03-02T10:00:00+08:00",
            },
        ],
    }


def test_email_thread_json(client, clock):
    _fill(clock)
    data = client.get("/messages/li@example.cn.json").json()
    assert data["recipient"] == "li@example.cn"
    assert data["messages"] == [
        {
            "channel": "email",
            "sender": "provider",
            "subject": "备案通过",
            "body": "邮件正文",
            "created_at": "2026-03-02T10:05:00+08:00",
        }
    ]


def test_unknown_recipient_is_an_empty_page(client):
    response = client.get("/messages/13700000000/")
    assert response.status_code == 200
    assert response.context["messages"] == []
    assert client.get("/messages/13700000000.json").json() == {"recipient": "13700000000", "messages": []}


@pytest.mark.parametrize(
    "path",
    [
        "/messages/%00/",
        "/messages/%00.json",
        "/messages/%20/",
        "/messages/%ff%fe/",
        "/messages/a%2Fb/",
        "/messages/a/b/c/",
        "/messages/../etc/passwd/",
        "/messages/%3Cscript%3Ealert(1)%3C%2Fscript%3E/",
        "/messages/%E2%80%AE%F0%9F%98%80'%22;--/",
        "/messages/%25%3F%23/",
        "/messages/" + "9" * 5000 + "/",
        "/messages/x@y@z/",
        "/messages/.json",
        "/messages/%0a.json",
    ],
)
def test_odd_recipients_do_not_crash(client, path):
    response = client.get(path)
    assert response.status_code in (200, 301, 404)
    if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
        assert b"<script>alert(1)</script>" not in response.content


def test_odd_recipient_query_does_not_crash(client):
    for query in ["\x00", "%", "_", "<script>", "+", "a" * 5000]:
        assert client.get("/messages/", {"to": query}).status_code == 200


def test_pages_are_read_only(client):
    assert client.post("/messages/").status_code == 405
    assert client.post("/messages/13800138000/").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/messages/",
        "/messages/13800138000/",
        "/messages/13800138000.json",
        "/messages/13800138000/?format=json",
    ],
)
def test_sandbox_is_hidden_outside_simulation(client, settings, path):
    send.sms(PHONE, "secret code 123456", sender="bureau")
    settings.BEIAN_SIMULATION = False
    response = client.get(path)
    assert response.status_code == 404
    assert b"123456" not in response.content


def test_email_without_subject_renders(client):
    send.email("li@example.cn", "", "正文", sender="provider")
    html = client.get("/messages/li@example.cn/").content.decode()
    assert "（无主题）" in html


def test_index_search_for_part_of_a_number_offers_no_thread_link(client, clock):
    _fill(clock)
    html = client.get("/messages/", {"to": "138"}).content.decode()
    assert 'href="/messages/138/"' not in html
    html = client.get("/messages/", {"to": "Li@Example.cn"}).content.decode()
    assert 'href="/messages/li@example.cn/"' in html
