"""The operation catalogue (DESIGN §3) is one table that says everything both sides need of a type;
these tests hold the table to its own shape."""

from dataclasses import replace

import pytest

from beian.core.catalogue import (
    FAQ,
    OPERATION_CODES,
    RULE_SETS,
    Hosting,
    OperationType,
    Section,
    Serving,
    Subject,
    Verb,
    shape,
    takes_password,
)


def test_the_nine_types_fill_the_grid_of_verbs_and_subjects_once():
    grid = {(kind.verb, kind.subject) for kind in FAQ.values()}
    assert len(grid) == len(FAQ) == 9
    assert grid == {(verb, subject) for verb in Verb for subject in Subject}


@pytest.mark.parametrize("code", OPERATION_CODES)
def test_a_type_names_a_filing_exactly_when_it_asks_who_hosts_it(code):
    kind = shape(code)
    assert (kind.target is None) == (kind.hosting is Hosting.NONE)
    if kind.target is not None:
        assert kind.sections[kind.target_key] is kind.target


def test_only_a_new_filing_names_no_filing_and_only_a_transfer_in_moves_here():
    assert [k.code for k in FAQ.values() if k.hosting is Hosting.NONE] == ["new_filing"]
    assert [k.code for k in FAQ.values() if k.hosting is Hosting.NOT_HERE] == ["transfer_in"]


def test_a_row_that_names_two_filings_is_refused():
    with pytest.raises(ValueError, match="at most one filing"):
        replace(
            FAQ["change_entity"],
            sections={"entity_number": Section.ENTITY_NUMBER, "website_number": Section.WEBSITE_NUMBER},
        )


def test_r11_what_stops_serving_cannot_be_withdrawn():
    for kind in FAQ.values():
        assert kind.irreversible == kind.serving.stops, kind.code


def test_s12_only_what_took_effect_at_submission_cannot_be_rejected():
    for kind in FAQ.values():
        assert kind.rejectable == (kind.serving is not Serving.STOPS_AT_SUBMISSION), kind.code


def test_the_rule_sets_differ_only_in_password_verification_and_the_domain_limit():
    """DESIGN §3: miit2020 changes cells of the table, never its shape."""
    for rules in RULE_SETS.values():
        assert tuple(rules.operations) == OPERATION_CODES
        for code, kind in rules.operations.items():
            assert replace(kind, password=FAQ[code].password, verify=FAQ[code].verify) == FAQ[code]
    assert not any(kind.password for kind in RULE_SETS["miit2020"].operations.values())
    assert RULE_SETS["miit2020"].max_domains_per_website == 1


def test_the_schemas_admit_a_password_wherever_a_rule_set_may_ask_for_it():
    assert {code for code in OPERATION_CODES if takes_password(code)} == {
        code for code, kind in FAQ.items() if kind.password
    }


@pytest.mark.parametrize("kind", list(FAQ.values()), ids=list(FAQ))
def test_every_type_says_when_to_choose_it_in_both_languages(kind: OperationType):
    assert kind.help
    assert kind.help_en
    assert kind.name
    assert kind.name_en


def test_the_published_row_holds_every_column():
    row = FAQ["change_entity"].as_dict()
    assert row["sections"] == {"entity_number": "entity_number", "entity": "entity_changes"}
    assert (row["verb"], row["subject"], row["hosting"]) == ("change", "entity", "required")
    assert row["consult_on"] == ["entity.name", "entity.cert_number"]
