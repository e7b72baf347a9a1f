"""Accounts' emails sealed at rest (issue 14, DESIGN §9, beian/accounts): an account's email is kept
only as AES-GCM ciphertext beside a keyed digest, `auth_user.email` stays empty whoever writes to
it, the look-ups that need equality go through the digest, and migration accounts 0002 moves the
addresses a deployment already holds (and back)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldError
from django.db import connection

from beian import sealing
from beian.accounts import emails
from beian.accounts.models import AccountEmail
from tests.migrating import migrate_to, migrate_to_latest

User = get_user_model()
BEFORE, AFTER = ("accounts", "0001_initial"), ("accounts", "0002_account_emails_sealed")


def stored(sql: str, *params) -> list[tuple]:
    """What the database itself holds, read past the models."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def clear_column(user) -> str:
    return stored("SELECT email FROM auth_user WHERE id = %s", user.pk)[0][0]


def sealed_column(user) -> list[str]:
    return [text for (text,) in stored("SELECT email FROM accounts_accountemail WHERE user_id = %s", user.pk)]


@pytest.mark.django_db
def test_an_email_given_to_djangos_user_is_sealed_and_its_column_stays_empty():
    erin = User.objects.create_user("erin", "Erin.Wu@Example.cn", "erin-pass")  # Django lowers the domain
    assert clear_column(erin) == ""
    assert erin.email == ""  # the object says what its row holds
    [text] = sealed_column(erin)
    assert sealing.is_sealed(text)
    assert "Erin" not in text
    assert "example" not in text.lower()
    assert emails.of(erin) == "Erin.Wu@example.cn"
    assert emails.of(User.objects.get(pk=erin.pk)) == "Erin.Wu@example.cn"

    # Any later save that puts one in the column (a form, a script) moves it the same way.
    erin.email = "erin@example.cn"
    erin.save()
    assert clear_column(erin) == ""
    assert emails.of(erin) == "erin@example.cn"
    assert len(sealed_column(erin)) == 1


@pytest.mark.django_db
def test_a_save_without_an_email_keeps_the_sealed_one():
    erin = User.objects.create_user("erin", "erin@example.cn", "erin-pass")
    User.objects.get(pk=erin.pk).save()  # read back: email "", e.g. a sign-in's last_login
    assert emails.of(erin) == "erin@example.cn"


@pytest.mark.django_db
def test_keep_changes_and_removes_an_accounts_email():
    erin = User.objects.create_user("erin")
    assert emails.of(erin) == ""
    emails.keep(erin, "  erin@example.cn ")
    assert emails.of(erin) == "erin@example.cn"
    emails.keep(erin, "new@example.cn")
    assert emails.of(erin) == "new@example.cn"
    emails.keep(erin, "")
    assert emails.of(erin) == ""
    assert not AccountEmail.objects.filter(user=erin).exists()
    assert emails.of(User(username="unsaved")) == ""


@pytest.mark.django_db
def test_an_account_is_found_by_its_emails_digest_whatever_its_case():
    erin = User.objects.create_user("erin", "Erin@Example.cn")
    User.objects.create_user("frank", "frank@example.cn")
    assert list(emails.users_with("erin@example.cn")) == [erin]
    assert list(emails.users_with(" ERIN@EXAMPLE.CN")) == [erin]
    assert not emails.users_with("erin@example.com").exists()
    assert emails.of_many([erin.pk]) == {erin.pk: "Erin@example.cn"}
    # The ciphertext cannot be compared: the sealed column says to use the digest.
    with pytest.raises(FieldError, match="digest"):
        AccountEmail.objects.filter(email="Erin@Example.cn").exists()


@pytest.mark.django_db
def test_an_accounts_email_does_not_open_in_another_column():
    erin = User.objects.create_user("erin", "erin@example.cn")
    [text] = sealed_column(erin)
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(text, "provider_profile.mobile")


@pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)
def test_migration_0002_seals_the_emails_a_deployment_holds_and_is_reversible():
    migrate_to(BEFORE)
    try:
        # As a deployment before this change holds them: in auth_user.email, in the clear.
        erin, frank, gina = (User.objects.create_user(name) for name in ("erin", "frank", "gina"))
        User.objects.filter(pk=erin.pk).update(email="Erin@Example.cn")
        User.objects.filter(pk=frank.pk).update(email="frank@example.cn")
        User.objects.filter(pk=gina.pk).update(email="   ")  # nothing to keep
        assert not AccountEmail.objects.exists()

        migrate_to(AFTER)
        assert [clear_column(u) for u in (erin, frank, gina)] == ["", "", ""]
        assert all(sealing.is_sealed(text) for u in (erin, frank) for text in sealed_column(u))
        assert sealed_column(gina) == []
        assert (emails.of(erin), emails.of(frank), emails.of(gina)) == ("Erin@Example.cn", "frank@example.cn", "")
        assert list(emails.users_with("erin@example.cn")) == [erin]  # the digests are filled

        migrate_to(BEFORE)
        assert [clear_column(u) for u in (erin, frank, gina)] == ["Erin@Example.cn", "frank@example.cn", ""]
        assert not AccountEmail.objects.exists()
    finally:
        migrate_to_latest("accounts")
    assert emails.of(erin) == "Erin@Example.cn"
