"""Accounts: customers sign up and sign in at /portal/, filing specialists sign in at /console/.

Both use Django's users and sessions. A customer is a user in the group "customers" with a
`Profile` that holds the mobile number notices go to, and an email sealed apart from Django's user
(`beian.accounts.emails`); a specialist is a user in the group
"specialists" (`review.SPECIALISTS`), made by an administrator, never by sign-up.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import login, password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from beian import language
from beian.accounts import emails
from beian.core import validators as v
from beian.core.errors import Invalid
from beian.provider import review, signin
from beian.provider.forms import text_field
from beian.provider.models import Profile
from beian.provider.words import say

CUSTOMERS = "customers"


# ---------------------------------------------------------------- the forms of accounts

DEFAULT_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


def password_validators():
    """Django's validators: the deployment's, or Django's four standard ones if it sets none."""
    return password_validation.get_password_validators(settings.AUTH_PASSWORD_VALIDATORS or DEFAULT_PASSWORD_VALIDATORS)


class SignupForm(forms.Form):
    username = text_field(
        gettext_lazy("用户名"),
        150,
        required=True,
        validators=[UnicodeUsernameValidator()],
        help_text=gettext_lazy("150 个字符以内，可使用字母、数字和 @ . + - _"),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = text_field(
        gettext_lazy("电子邮箱"), 254, required=True, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    mobile = text_field(
        gettext_lazy("手机号码"),
        20,
        required=True,
        help_text=gettext_lazy("用于接收备案进度通知"),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    password1 = text_field(
        gettext_lazy("密码"),
        128,
        required=True,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = text_field(
        gettext_lazy("确认密码"),
        128,
        required=True,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        name = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=name).exists():
            raise ValidationError(gettext_lazy("该用户名已被注册"), code="username_taken")
        return name

    def clean_email(self) -> str:
        try:
            return v.email(self.cleaned_data["email"])
        except Invalid as exc:
            raise ValidationError(say(exc), code=exc.code) from None

    def clean_mobile(self) -> str:
        try:
            return v.mobile(self.cleaned_data["mobile"])
        except Invalid as exc:
            raise ValidationError(say(exc), code=exc.code) from None

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", gettext_lazy("两次输入的密码不一致"))
        elif first:
            user = User(username=data.get("username") or "", email=data.get("email") or "")
            try:
                password_validation.validate_password(first, user, password_validators=password_validators())
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class SpecialistLoginForm(signin.SignInForm):
    """The console's sign-in: the same accounts, but only the provider's staff get in (filing
    specialists, and operators, who go on to their page)."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not (review.is_specialist(user) or review.is_operator(user)):
            raise ValidationError(gettext_lazy("该账号不是备案专员，不能登录审核控制台"), code="not_specialist")


# ---------------------------------------------------------------- the account's language


def _keep_on_account(sender, *, request: HttpRequest, language: str, **kwargs) -> None:
    """A signed-in customer's pick of language is kept on the account: their notices follow it."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        Profile.objects.update_or_create(user=user, defaults={"language": language})


def _language_of_account(sender, *, request: HttpRequest, user, **kwargs) -> None:
    """Signing in: a language picked with the switch in this visit is kept on the account; else the
    account's language comes into the session, whatever the browser says."""
    session = getattr(request, "session", None)
    if session is None:
        return
    picked = language.supported(session.get(language.SESSION_KEY))
    if picked:
        Profile.objects.filter(user=user).update(language=picked)
        return
    kept = Profile.objects.filter(user=user).values_list("language", flat=True).first()
    if kept:
        session[language.SESSION_KEY] = kept
        translation.activate(kept)


def connect_language() -> None:
    language.language_chosen.connect(_keep_on_account, dispatch_uid="beian.provider.keep_language")
    user_logged_in.connect(_language_of_account, dispatch_uid="beian.provider.account_language")


# ---------------------------------------------------------------- pages


def register_customer(*, username: str, email: str, mobile: str, password: str, language: str = "") -> AbstractBaseUser:
    """A new customer account, its profile and its group, in one transaction."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password)
        emails.keep(user, email)
        Profile.objects.create(user=user, mobile=mobile, language=language)
        user.groups.add(Group.objects.get_or_create(name=CUSTOMERS)[0])
    return user


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            user = register_customer(
                username=data["username"],
                email=data["email"],
                mobile=data["mobile"],
                password=data["password1"],
                language=translation.get_language() or "",  # the language they signed up in
            )
        except IntegrityError:  # the same name taken by someone else a moment ago
            form.add_error("username", _("该用户名已被注册"))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("portal:dashboard")
    return render(request, "provider/accounts/signup.html", {"form": form})


class ThrottledLogin(auth_views.LoginView):
    """A sign-in page whose attempts are counted (`signin`); one over the limit is answered 429."""

    authentication_form = signin.SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if signin.throttled(form):
            response.status_code = 429
        return response


class PortalLogin(ThrottledLogin):
    template_name = "provider/accounts/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("portal:dashboard")


class PortalLogout(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class ConsoleLogin(ThrottledLogin):
    """Only specialists get past this form (`SpecialistLoginForm`); a customer is refused."""

    template_name = "provider/accounts/console_login.html"
    authentication_form = SpecialistLoginForm
    next_page = reverse_lazy("console:queue")

    def get_default_redirect_url(self) -> str:
        if not review.is_specialist(self.request.user) and review.is_operator(self.request.user):
            return "/enforcement/"  # the operators' page, served by beian.enforcement
        return super().get_default_redirect_url()


class ConsoleLogout(auth_views.LogoutView):
    next_page = reverse_lazy("console:login")
