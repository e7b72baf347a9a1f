"""The demo world that `make run` creates on first start: the provinces (seeded by migration),
two providers with documented keys, a few filed entities and websites, and the personas.

Filings are made the way a provider makes them: an operation is submitted over the service,
the principals confirm the codes their phones received (read from the message sandbox), and the
bureau approves. Nothing is written behind the state machine's back.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from beian.accounts import emails
from beian.bureau import outbox, providers, review, submission, verification
from beian.bureau.models import Operation, Provider, Reviewer
from beian.bureau.transitions import Actor
from beian.core.synthetic import make_resident_id, make_uscc
from beian.messaging import send
from beian.provider import bureau_client, holders, organisations, sync
from beian.provider.models import FiledEntity, HolderChange, Profile
from beian.staff import roles

OPERATOR = ("democloud", "演示云（本平台运营方）", "democloud.operator-demo-key-not-a-secret")
OTHER = ("othercloud", "他山云（其他接入商）", "othercloud.other-demo-key-not-a-secret")

PERSONAS = {
    # username: (password, display name, groups, mobile for notices)
    "alice": ("alice-demo", "Alice 王", ("customers",), "13600136001"),
    "bob": ("bob-demo", "Bob 陈（备案专员）", ("specialists",), ""),
    "charlie": ("charlie-demo", "Charlie 赵", ("customers",), "13600136003"),
    "oscar": ("oscar-demo", "Oscar 孙（运维）", ("operators",), ""),
    "ada": ("ada-demo-admin", "Ada 吴（平台管理员）", ("provider_admins",), ""),
    "bea": ("bea-demo-admin", "Bea 郑（管局管理员）", ("bureau_admins",), ""),
    "dora": ("dora-demo", "Dora 钱（代理公司员工）", ("customers",), "13600136004"),
    "vic": ("vic-demo", "Vic 李（代理公司的客户，只读）", ("customers",), "13600136005"),
}
# alice's web agency: an organisation account that holds the individual's filing it made for her
# client; dora edits its applications, vic (the client) only looks.
AGENCY = ("西湖建站代理", {"dora": "editor", "vic": "viewer"}, "京")
REVIEWER = ("reviewer", "reviewer-demo", "管局审核员 周")

CODE = re.compile(r"核验码为 (\d{6})")


@dataclass(frozen=True)
class Filing:
    provider: str
    entity: dict
    website: dict
    ips: list[str]


def _person(name: str, division: str, birth: date, seq: int, mobile: str, email: str) -> dict:
    return {
        "name": name,
        "id_type": "resident_id",
        "id_number": make_resident_id(division, birth, seq),
        "mobile": mobile,
        "email": email,
    }


ZHANG = _person("张伟", "440305", date(1985, 4, 12), 131, "13800138001", "zhangwei@demo-tech.cn")
LIU = _person("刘洋", "330106", date(1990, 9, 3), 262, "13900139002", "liuyang@xihu-net.cn")
LI = _person("李静", "110105", date(1992, 1, 20), 482, "13700137003", "lijing@example.cn")
WANG = _person("王芳", "440106", date(1988, 6, 15), 357, "13500135004", "wangfang@gz-trade.cn")

FILINGS = [
    Filing(
        "democloud",
        {
            "unit_type": "enterprise",
            "name": "深圳市演示科技有限公司",
            "cert_type": "uscc",
            "cert_number": make_uscc("91", "440300", "MA5F1234"),
            "province": "44",
            "address": "广东省深圳市南山区科技园南区演示路 1 号",
            "principal": ZHANG,
        },
        {"name": "演示科技官网", "domains": ["demo-tech.cn"], "principal": ZHANG},
        ["121.40.18.10"],
    ),
    Filing(
        "othercloud",
        {
            "unit_type": "enterprise",
            "name": "杭州西湖网络科技有限公司",
            "cert_type": "uscc",
            "cert_number": make_uscc("91", "330106", "MA2H5678"),
            "province": "33",
            "address": "浙江省杭州市西湖区文三路 100 号",
            "principal": LIU,
        },
        {"name": "西湖网络资讯站", "domains": ["xihu-net.cn"], "principal": LIU},
        ["119.29.7.20"],
    ),
    Filing(
        "democloud",
        {
            "unit_type": "individual",
            "name": "李静",
            "cert_type": "resident_id",
            "cert_number": LI["id_number"],
            "province": "11",
            "address": "北京市朝阳区建国路 88 号",
            "principal": LI,
        },
        {"name": "四季随笔", "domains": ["lijing-notes.cn"], "principal": LI},
        ["121.40.18.11"],
    ),
    # Hosted by 演示云 before it ran beian: it arrives through the feed held by no account, for a
    # customer to claim with the code sent to 王芳's phone (S20).
    Filing(
        "democloud",
        {
            "unit_type": "enterprise",
            "name": "广州示例贸易有限公司",
            "cert_type": "uscc",
            "cert_number": make_uscc("91", "440106", "MA9K2468"),
            "province": "44",
            "address": "广东省广州市天河区体育西路 8 号",
            "principal": WANG,
        },
        {"name": "示例贸易商城", "domains": ["gz-trade.cn"], "principal": WANG},
        ["121.40.18.12"],
    ),
]
# The filings alice has held since before beian (the rest wait to be claimed): by their first domain.
ALICES = ("demo-tech.cn", "lijing-notes.cn")


def _file(provider: Provider, filing: Filing) -> Operation:
    result = submission.submit(
        provider=provider,
        op_type="new_filing",
        data={"entity": filing.entity, "website": filing.website, "access": {"ips": filing.ips}},
        idempotency_key=uuid.uuid5(uuid.NAMESPACE_URL, f"beian-demo:{filing.website['domains'][0]}"),
    )
    op = result.operation
    outbox.dispatch()  # deliver the codes now rather than waiting for the worker
    for ver in op.verifications.all():
        codes = [m for m in send.received(ver.mobile) if CODE.search(m.body) and str(op.pk) in m.body]
        code = CODE.search(codes[-1].body).group(1)
        verification.confirm(operation_id=op.pk, mobile=ver.mobile, id_last6=ver.id_last6, code=code)
    op.refresh_from_db()
    return review.decide(op, "approve", actor=f"{Actor.REVIEWER}:{REVIEWER[0]}")


def _mirror_for_alice(operator_key: str) -> None:
    """The operator's platform learns of its filings from the bureau's feed, as it would in
    production (in-process here: the server is not up yet), held by no account; alice's are given
    to her as a specialist would, in their history."""
    client = bureau_client.in_process(api_key=operator_key)
    try:
        while sync.sync_once(client=client):
            pass
    finally:
        client.close()
    alice = get_user_model().objects.get(username="alice")
    for entity in FiledEntity.objects.filter(websites__domains__name__in=ALICES).distinct():
        holders.assign(
            entity,
            holders.Holder.personal(alice),
            actor="system:demo_world",
            how=HolderChange.How.ASSIGNMENT,
        )


def _agency() -> None:
    name, members, province = AGENCY
    alice = get_user_model().objects.get(username="alice")
    agency = organisations.create(user=alice, name=name)
    for username, role in members.items():
        organisations.add(user=alice, organisation=agency, username=username, role=role)
    FiledEntity.objects.filter(number__startswith=province).update(organisation=agency)


def create() -> list[str]:
    """Create the demo world unless it exists; returns lines to print."""
    lines: list[str] = []
    if Provider.objects.filter(slug=OPERATOR[0]).exists():
        return ["demo world already present"]
    keys = {}
    with transaction.atomic(using="bureau"):
        for slug, name, key in (OPERATOR, OTHER):
            _provider, keys[slug] = providers.register(slug=slug, name=name, key=key)
        Reviewer.objects.create(username=REVIEWER[0], name=REVIEWER[2], password=make_password(REVIEWER[1]))
    for filing in FILINGS:
        op = _file(Provider.objects.get(slug=filing.provider), filing)
        lines.append(f"filed {op.result['website_number']} {filing.website['domains'][0]} at {filing.provider}")
    user_model = get_user_model()
    made = roles.ensure()
    staff_groups = {role.group for role in roles.ROLES.values() if role.staff}
    for username, (password, display, groups, mobile) in PERSONAS.items():
        user, _ = user_model.objects.get_or_create(username=username, defaults={"first_name": display})
        user.set_password(password)
        user.is_staff = bool(staff_groups & set(groups))  # the admins sign in to /admin/
        user.save()
        emails.keep(user, f"{username}@example.cn")
        Profile.objects.update_or_create(user=user, defaults={"mobile": mobile})
        for group in groups:
            user.groups.add(made.get(group) or Group.objects.get_or_create(name=group)[0])
    _mirror_for_alice(keys[OPERATOR[0]])
    _agency()
    lines += [f"provider {slug} API key: {key}" for slug, key in keys.items()]
    lines.append(f"bureau reviewer: {REVIEWER[0]} / {REVIEWER[1]}")
    lines += [f"persona {u}: {p[0]}" for u, p in PERSONAS.items()]
    return lines
