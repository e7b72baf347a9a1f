"""Accounts: customers sign up and sign in at /portal/, filing specialists sign in at /console/.

Both use Django's users and sessions. A customer is a user in the group "customers" with a
`Profile` that holds the mobile number notices go to; a specialist is a user in the group
"specialists" (`review.SPECIALISTS`), made by an administrator, never by sign-up.
"""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from beian.provider import review
from beian.provider.forms import SignupForm, SpecialistLoginForm
from beian.provider.models import Profile

CUSTOMERS = "customers"


def register_customer(*, username: str, email: str, mobile: str, password: str) -> AbstractBaseUser:
    """A new customer account, its profile and its group, in one transaction."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        Profile.objects.create(user=user, mobile=mobile)
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
                username=data["username"], email=data["email"], mobile=data["mobile"], password=data["password1"]
            )
        except IntegrityError:  # the same name taken by someone else a moment ago
            form.add_error("username", _("该用户名已被注册"))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("portal:dashboard")
    return render(request, "provider/accounts/signup.html", {"form": form})


class PortalLogin(auth_views.LoginView):
    template_name = "provider/accounts/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("portal:dashboard")


class PortalLogout(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class ConsoleLogin(auth_views.LoginView):
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
