"""Settings read the environment through helpers that fail loudly on a bad value."""

import pytest

from beian import env


def test_boolean_refuses_a_typo(monkeypatch):
    monkeypatch.setenv("BEIAN_X", "ture")
    with pytest.raises(env.ImproperValue, match="BEIAN_X"):
        env.boolean("BEIAN_X", False)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("", True)])
def test_boolean_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("BEIAN_X", raw)
    assert env.boolean("BEIAN_X", True) is expected


def test_integer_refuses_text_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("BEIAN_N", "five")
    with pytest.raises(env.ImproperValue):
        env.integer("BEIAN_N", 1)
    monkeypatch.setenv("BEIAN_N", "0")
    with pytest.raises(env.ImproperValue):
        env.integer("BEIAN_N", 1, minimum=1)


def test_fraction_and_choice_refuse_out_of_range(monkeypatch):
    monkeypatch.setenv("BEIAN_F", "1.5")
    with pytest.raises(env.ImproperValue):
        env.fraction("BEIAN_F", 0.0)
    monkeypatch.setenv("BEIAN_C", "sometimes")
    with pytest.raises(env.ImproperValue, match="manual, auto"):
        env.choice("BEIAN_C", "manual", ("manual", "auto"))


def test_seconds_refuse_what_is_no_number_or_out_of_range(monkeypatch):
    monkeypatch.setenv("BEIAN_S", "soon")
    with pytest.raises(env.ImproperValue, match="seconds"):
        env.seconds("BEIAN_S", 1.0, minimum=0.2, maximum=300)
    monkeypatch.setenv("BEIAN_S", "0.1")
    with pytest.raises(env.ImproperValue, match=r"0\.2 to 300"):
        env.seconds("BEIAN_S", 1.0, minimum=0.2, maximum=300)
    monkeypatch.setenv("BEIAN_S", "2.5")
    assert env.seconds("BEIAN_S", 1.0, minimum=0.2, maximum=300) == 2.5


def test_database_accepts_sqlite_and_postgres_only(monkeypatch, tmp_path):
    monkeypatch.setenv("BEIAN_DB", "mysql://root@localhost/x")
    with pytest.raises(env.ImproperValue, match="SQLite or PostgreSQL"):
        env.database("BEIAN_DB", str(tmp_path / "x.sqlite3"))
    monkeypatch.setenv("BEIAN_DB", "postgres://postgres@127.0.0.1:5432/beian")
    assert env.database("BEIAN_DB", "unused")["ENGINE"] == "django.db.backends.postgresql"
    monkeypatch.delenv("BEIAN_DB")
    config = env.database("BEIAN_DB", str(tmp_path / "sub" / "x.sqlite3"))
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert (tmp_path / "sub").is_dir()


def test_production_hashing_is_argon2():
    # The suite hashes cheaply (tests/conftest.py); the settings module itself must not.
    import beian.settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert production.BEIAN_ARGON2_MEMORY_KIB >= 65536


def test_a_list_of_names_refuses_one_not_allowed(monkeypatch):
    monkeypatch.setenv("BEIAN_X", "provider, bureau")
    assert env.names("BEIAN_X", "", allowed=("provider", "bureau")) == ("provider", "bureau")
    monkeypatch.setenv("BEIAN_X", "provider,burreau")
    with pytest.raises(env.ImproperValue, match="'burreau' is not one of provider, bureau"):
        env.names("BEIAN_X", "", allowed=("provider", "bureau"))


def test_networks_are_read_and_a_bad_one_refused(monkeypatch):
    import ipaddress

    monkeypatch.setenv("BEIAN_X", "10.0.0.0/8, ::1")
    assert env.networks("BEIAN_X", "") == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    monkeypatch.setenv("BEIAN_X", "10.0.0.1/8")
    with pytest.raises(env.ImproperValue, match="BEIAN_X"):
        env.networks("BEIAN_X", "")
