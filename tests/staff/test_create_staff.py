"""S20: `create_staff` makes each role for scripted set-up (the first admin too), with its group and
exactly the role's permissions, and refuses bad input with a clear error that changes nothing."""

import re

import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import User
from django.core.management.base import CommandError

from beian.accounts import emails
from beian.bureau.models import AuditRecord, Reviewer
from beian.staff import roles
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def permissions(user: User) -> set[str]:
    return set(user.get_all_permissions())


def test_s20_each_role_gets_its_group_and_exactly_its_permissions(staff):
    assert (
        staff("root", "--role", "admin", "--superuser", "--email", "root@example.cn")
        == "admin root created (superuser)\n"
    )
    staff("ada", "--role", "admin", "--name", "Ada")
    staff("bea", "--role", "bureau_admin")
    staff("sam", "--role", "specialist", "--name", "Sam 孙")
    staff("oli", "--role", "operator")

    root = User.objects.get(username="root")
    assert emails.of(root) == "root@example.cn"  # sealed (issue 14): auth_user.email stays empty
    assert root.email == ""
    assert root.is_superuser
    assert root.is_staff
    assert root.check_password(PASSWORD)
    ada, bea, sam, oli = (User.objects.get(username=u) for u in ("ada", "bea", "sam", "oli"))
    assert (ada.is_staff, bea.is_staff, sam.is_staff, oli.is_staff) == (True, True, False, False)
    assert not ada.is_superuser
    assert [g.name for g in sam.groups.all()] == ["specialists"]
    assert [g.name for g in oli.groups.all()] == ["operators"]
    assert permissions(ada) == set(roles.ROLES["admin"].permissions)
    assert permissions(bea) == set(roles.ROLES["bureau_admin"].permissions)
    assert permissions(sam) == permissions(oli) == set()
    assert sam.first_name == "Sam 孙"


def test_s20_a_reviewer_for_a_province_is_the_bureaus_own_account_and_audited(staff):
    assert (
        staff("zhou", "--role", "reviewer", "--name", "周审核", "--province", "粤")
        == "reviewer zhou created (广东省)\n"
    )
    staff("wu", "--role", "reviewer", "--name", "吴审核", password="a-long-reviewer-pass")
    zhou = Reviewer.objects.get(username="zhou")
    assert zhou.province_id == "44"
    assert zhou.active
    assert check_password(PASSWORD, zhou.password)
    assert Reviewer.objects.get(username="wu").province is None
    assert not User.objects.filter(username="zhou").exists()
    assert AuditRecord.objects.filter(action="reviewer_added", subject="reviewer:zhou").count() == 1


@pytest.mark.parametrize(
    ("args", "password", "says"),
    [
        (("sam", "--role", "specialist"), "short", "密码不合格 / Password refused"),
        (("sam", "--role", "specialist"), "", "密码不能为空 / The password is empty"),
        (("sam", "--role", "specialist", "--superuser"), PASSWORD, "--superuser goes with --role admin only"),
        (("sam", "--role", "specialist", "--province", "44"), PASSWORD, "--province goes with --role reviewer only"),
        (("s a m", "--role", "specialist"), PASSWORD, "A username holds letters, digits and @ . + - _ only"),
        (("zhou", "--role", "reviewer", "--name", "周"), "too-short", "at least 12 characters"),
        (("zhou", "--role", "reviewer"), PASSWORD, "A reviewer needs --name"),
        (("zhou", "--role", "reviewer", "--name", "周", "--province", "99"), PASSWORD, "No province 99"),
        (("sam", "--role", "boss"), PASSWORD, "invalid choice: 'boss'"),
        (("sam", "--role", "specialist", "--email", "sam@"), PASSWORD, "The email address is not valid"),
    ],
)
def test_s20_create_staff_refuses_bad_input_and_changes_nothing(staff, args, password, says):
    with pytest.raises(CommandError, match=re.escape(says)):
        staff(*args, password=password)
    assert not User.objects.exists()
    assert not Reviewer.objects.exists()


def test_s20_create_staff_refuses_an_existing_account(staff):
    staff("sam", "--role", "specialist")
    with pytest.raises(CommandError, match="The account Sam exists"):
        staff("Sam", "--role", "operator")
    staff("zhou", "--role", "reviewer", "--name", "周")
    with pytest.raises(CommandError, match="The reviewer zhou exists"):
        staff("zhou", "--role", "reviewer", "--name", "周")
    assert [g.name for g in User.objects.get(username="sam").groups.all()] == ["specialists"]
