"""`python -m beian create_staff --role specialist|operator|admin|bureau_admin|reviewer USERNAME`:
staff for scripted set-up, the first admin included (`--superuser`). The password is read from
standard input when it is not a terminal (`echo "$PW" | python -m beian create_staff …`), else
asked twice; it must pass Django's password validators (reviewers: at least 12 characters)."""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from beian.accounts import emails
from beian.core import validators as v
from beian.core.errors import Invalid
from beian.staff import roles

CHOICES = (*roles.ROLES, roles.REVIEWER)


class Command(BaseCommand):
    help = "Create a staff account: a specialist, an operator, a provider admin, a bureau admin or a bureau reviewer."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=CHOICES)
        parser.add_argument("--name", default="", help="the name shown to colleagues")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--province", default="", help="reviewer: the province reviewed (code 44 or 粤); none: every province"
        )
        parser.add_argument("--superuser", action="store_true", help="admin: also a superuser (the first admin)")

    def handle(self, *args, username: str, role: str, name: str, email: str, province: str, superuser: bool, **options):
        if superuser and role != "admin":
            raise CommandError("--superuser 只用于 --role admin / --superuser goes with --role admin only")
        if province and role != roles.REVIEWER:
            raise CommandError("--province 只用于 --role reviewer / --province goes with --role reviewer only")
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError:
            raise CommandError(
                f"用户名 {username!r} 只能包含字母、数字和 @ . + - _ / "
                "A username holds letters, digits and @ . + - _ only"
            ) from None
        if role not in roles.available():
            raise CommandError(
                f"这个部署不提供 {role} 角色（BEIAN_DEPLOYMENT）/ This deployment has no {role} role (BEIAN_DEPLOYMENT)"
            )
        if email:
            try:
                email = v.email(email)
            except Invalid as exc:
                raise CommandError(f"{exc.message} / {exc.message_en}") from None
        if role == roles.REVIEWER:
            self._reviewer(username, name, province)
        else:
            self._account(username, role, name, email, superuser)

    def _password(self, check) -> str:
        if sys.stdin.isatty():
            password = getpass.getpass("密码 / Password: ")
            if password != getpass.getpass("再输一次 / Again: "):
                raise CommandError("两次输入的密码不一致 / The two passwords differ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("密码不能为空 / The password is empty")
        try:
            check(password)
        except ValidationError as exc:
            raise CommandError("密码不合格 / Password refused: " + " ".join(exc.messages)) from None
        return password

    def _account(self, username: str, role: str, name: str, email: str, superuser: bool) -> None:
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"账号 {username} 已存在 / The account {username} exists")
        from beian.provider.accounts import password_validators

        spec = roles.ROLES[role]
        candidate = User(username=username, email=email, first_name=name)
        password = self._password(
            lambda p: password_validation.validate_password(p, candidate, password_validators=password_validators())
        )
        try:
            with transaction.atomic():
                groups = roles.ensure()
                user = User.objects.create_user(
                    username,
                    password=password,
                    first_name=name,
                    is_staff=spec.staff or superuser,
                    is_superuser=superuser,
                )
                user.groups.add(groups[spec.group])
                emails.keep(user, email)  # sealed, never in auth_user.email
        except roles.MissingPermission as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{role} {username} created" + (" (superuser)" if superuser else ""))

    def _reviewer(self, username: str, name: str, province: str) -> None:
        # The bureau's, imported here: a provider deployment has no bureau app.
        from beian.bureau import audit
        from beian.bureau.admin import MIN_REVIEWER_PASSWORD
        from beian.bureau.models import Province, Reviewer

        if not name:
            raise CommandError("审核员需要姓名：--name / A reviewer needs --name")
        where = None
        if province:
            where = Province.objects.filter(code=province).first() or Province.objects.filter(short=province).first()
            if where is None:
                raise CommandError(
                    f"没有这个省份：{province}（用代码如 44 或简称如 粤）/ "
                    f"No province {province} (a code like 44 or 粤)"
                )
        if Reviewer.objects.filter(username=username).exists():
            raise CommandError(f"审核员 {username} 已存在 / The reviewer {username} exists")

        def long_enough(p: str) -> None:
            if len(p) < MIN_REVIEWER_PASSWORD:
                raise ValidationError(
                    f"至少 {MIN_REVIEWER_PASSWORD} 个字符 / at least {MIN_REVIEWER_PASSWORD} characters"
                )

        password = self._password(long_enough)
        with transaction.atomic(using="bureau"):
            Reviewer.objects.create(username=username, name=name, password=make_password(password), province=where)
            audit.append(
                actor="cli",
                action="reviewer_added",
                subject=f"reviewer:{username}",
                data={"province": where.code if where else "", "active": True},
            )
        self.stdout.write(f"reviewer {username} created ({where.name if where else '全国 / every province'})")
