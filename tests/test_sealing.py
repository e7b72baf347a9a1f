"""Sealing personal data at rest (issue 14, beian/sealing.py): AES-GCM with the key id and a fresh
nonce in every value, the column as associated data, keys from the environment, keyed digests for
equality."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import FieldError

from beian import env, sealing


def key(seed: int) -> bytes:
    return bytes([seed]) * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def two_keys(settings):
    settings.BEIAN_DATA_KEYS = (("k2", key(2)), ("k1", key(1)))
    settings.BEIAN_DIGEST_KEY = key(9)


def test_a_sealed_value_opens_to_the_clear_value_and_does_not_show_it(two_keys):
    stored = sealing.seal("13800138000", "bureau_entity.principal_mobile")
    assert "13800138000" not in stored
    assert sealing.key_id_of(stored) == "k2"
    assert sealing.unseal(stored, "bureau_entity.principal_mobile") == "13800138000"


def test_two_sealings_of_one_value_differ_by_their_nonce(two_keys):
    one, two = (sealing.seal("110101199003077777", "t.c") for _ in range(2))
    assert one != two


def test_sealing_many_at_once_is_sealing_each(two_keys):
    """The bulk loader's `seal_many` and `digests` give what `seal` and `digest` give, value by value."""
    clears = ["110101199003077777", "", "alice@example.cn", "13800138000"]
    stored = sealing.seal_many(clears, "bureau_entity.cert_number")
    assert [sealing.unseal(s, "bureau_entity.cert_number") for s in stored] == clears
    assert all(sealing.key_id_of(s) == "k2" for s in stored)
    assert len({s[:20] for s in stored}) == len(clears)  # each its own nonce
    assert sealing.digests("certificate", [" 91a ", "x"]) == [sealing.digest("certificate", v) for v in (" 91a ", "x")]


def test_a_value_moved_to_another_column_does_not_open(two_keys):
    stored = sealing.seal("alice@example.cn", "bureau_entity.principal_email")
    with pytest.raises(sealing.Unsealable, match="moved"):
        sealing.unseal(stored, "bureau_website.principal_email")


def test_an_altered_value_does_not_open(two_keys):
    stored = sealing.seal("alice@example.cn", "t.c")
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(flipped, "t.c")


def test_an_old_key_still_opens_until_it_is_removed(settings):
    settings.BEIAN_DATA_KEYS = (("k1", key(1)),)
    settings.BEIAN_DIGEST_KEY = key(9)
    old = sealing.seal("secret", "t.c")
    settings.BEIAN_DATA_KEYS = (("k2", key(2)), ("k1", key(1)))
    assert sealing.unseal(old, "t.c") == "secret"
    assert sealing.key_id_of(sealing.seal("secret", "t.c")) == "k2"
    settings.BEIAN_DATA_KEYS = (("k2", key(2)),)
    with pytest.raises(sealing.Unsealable, match="no longer holds"):
        sealing.unseal(old, "t.c")


def test_digests_compare_as_the_code_compares_and_are_keyed(two_keys, settings):
    assert sealing.digest("certificate", " 91440300ma5f1234xy ") == sealing.digest("certificate", "91440300MA5F1234XY")
    # The kind is part of the message: the same text as a recipient and as a certificate differs.
    assert sealing.digest("recipient", "13800138000") != sealing.digest("certificate", "13800138000")
    before = sealing.digest("recipient", "13800138000")
    settings.BEIAN_DIGEST_KEY = key(8)
    assert sealing.digest("recipient", "13800138000") != before


def test_without_keys_they_are_derived_from_the_secret_key(settings):
    settings.BEIAN_DATA_KEYS = ()
    settings.BEIAN_DIGEST_KEY = b""
    assert sealing.keyring().derived
    assert sealing.key_id_of(sealing.seal("x", "t.c")) == sealing.DERIVED_KEY_ID
    assert sealing.keys_of_its_own()[0].id == "beian.E001"


def test_with_keys_of_its_own_the_deploy_check_is_clean(two_keys):
    assert not sealing.keyring().derived
    assert sealing.keys_of_its_own() == []


def test_data_keys_are_read_from_the_environment_and_refused_when_malformed(monkeypatch):
    k1, k2 = os.urandom(32), os.urandom(32)
    monkeypatch.setenv("BEIAN_DATA_KEYS", f"new:{b64(k2)}, old:{base64.urlsafe_b64encode(k1).decode().rstrip('=')}")
    assert env.data_keys("BEIAN_DATA_KEYS") == (("new", k2), ("old", k1))
    for bad, why in (
        (f"{b64(k1)}", "id:base64key"),
        (f"a:{b64(k1)},a:{b64(k2)}", "twice"),
        (f"a:{b64(k1[:16])}", "32 bytes"),
        ("a:not base64!", "base64"),
        (f"a.b:{b64(k1)}", "id:base64key"),
    ):
        monkeypatch.setenv("BEIAN_DATA_KEYS", bad)
        with pytest.raises(env.ImproperValue, match=why):
            env.data_keys("BEIAN_DATA_KEYS")


@pytest.mark.django_db(databases=["bureau"])
def test_a_sealed_column_refuses_an_equality_look_up():
    from beian.bureau.models import Entity

    with pytest.raises(FieldError, match="digest"):
        Entity.objects.filter(cert_number="91440300MA5F1234XY").exists()


@pytest.mark.django_db
def test_whether_a_sealed_column_is_empty_may_be_asked():
    from beian.provider.models import Application

    assert not Application.objects.exclude(filing_password="").exists()


@pytest.mark.django_db(databases=["default"])
def test_sealed_data_goes_through_django_serialization():
    from django.contrib.auth import get_user_model
    from django.core import serializers

    from beian.provider.models import Application, Profile

    user = get_user_model().objects.create_user("serial")
    Profile.objects.create(user=user, mobile="13800138000")
    Application.objects.create(owner=user, type="new_filing", data={"entity": {"cert_number": "X1"}})
    text = serializers.serialize("json", [*Profile.objects.all(), *Application.objects.all()])
    assert "13800138000" in text  # a dump through Django is of the clear values, as an export is
    restored = [obj.object for obj in serializers.deserialize("json", text)]
    assert restored[0].mobile == "13800138000"
    assert restored[1].data == {"entity": {"cert_number": "X1"}}
