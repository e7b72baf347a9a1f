"""Filing numbers (DESIGN §3; R7): issued in one canonical text, read back from what people paste."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beian.core.errors import Invalid
from beian.core.numbers import FilingNumber, entity_number, parse, website_number
from beian.core.provinces import PROVINCES

shorts = st.sampled_from([p.short for p in PROVINCES])
years = st.integers(min_value=1000, max_value=9999)
serials = st.integers(min_value=1, max_value=999_999)
websites = st.none() | st.integers(min_value=1, max_value=100_000)

new_form = st.builds(
    FilingNumber,
    province=shorts,
    kind=st.just("备"),
    digits=st.from_regex(r"[0-9]{10}", fullmatch=True),
    website=websites,
)
old_form = st.builds(
    FilingNumber, province=shorts, kind=st.just("备"), digits=st.from_regex(r"[0-9]{8}", fullmatch=True),
    website=websites,
)  # fmt: skip
licence = st.builds(
    FilingNumber, province=shorts, kind=st.just("证"), digits=st.from_regex(r"[0-9]{6}", fullmatch=True),
    website=websites,
)  # fmt: skip
any_number = new_form | old_form | licence

FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


# ---------------------------------------------------------------- issuing


def test_entity_number_has_province_year_and_six_digit_serial():
    assert entity_number("鄂", 2021, 1858) == "鄂ICP备2021001858号"


def test_website_number_appends_n():
    assert website_number("粤ICP备2024012345号", 3) == "粤ICP备2024012345号-3"


@pytest.mark.parametrize("serial", [0, 1_000_000, -1])
def test_entity_number_refuses_a_serial_outside_1_to_999999(serial):
    with pytest.raises(ValueError, match="serial"):
        entity_number("粤", 2024, serial)


@pytest.mark.parametrize("year", [999, 10_000])
def test_entity_number_refuses_a_year_without_four_digits(year):
    with pytest.raises(ValueError, match="year"):
        entity_number("粤", year, 1)


def test_entity_number_refuses_an_unknown_province():
    with pytest.raises(Invalid) as exc:
        entity_number("港", 2024, 1)
    assert exc.value.code == "province_unknown"


def test_entity_number_uses_the_filing_abbreviation_for_a_licence_plate_alias():
    assert entity_number("川", 2024, 1) == "蜀ICP备2024000001号"


@pytest.mark.parametrize("n", [0, -1])
def test_website_numbers_count_from_1(n):
    with pytest.raises(ValueError, match="count from 1"):
        website_number("粤ICP备2024012345号", n)
    with pytest.raises(ValueError, match="count from 1"):
        parse("粤ICP备2024012345号").for_website(n)


def test_website_number_refuses_a_website_number():
    with pytest.raises(ValueError, match="already"):
        website_number("粤ICP备2024012345号-1", 2)


@given(short=shorts, year=years, serial=serials, n=st.integers(min_value=1, max_value=10_000))
def test_issued_numbers_parse_back_to_their_parts(short, year, serial, n):
    number = entity_number(short, year, serial)
    parsed = parse(number)
    assert (parsed.province, parsed.kind, parsed.year, parsed.website) == (short, "备", year, None)
    assert int(parsed.digits[4:]) == serial
    assert str(parsed) == parsed.entity_number == number
    site = parse(website_number(number, n))
    assert site.website == n
    assert site.entity_number == number


# ---------------------------------------------------------------- parsing


def test_parse_new_form_entity_number():
    assert parse("鄂ICP备2021001858号") == FilingNumber("鄂", "备", "2021001858", None)
    assert parse("鄂ICP备2021001858号").year == 2021


def test_parse_website_number_keeps_n_and_the_entity_number():
    parsed = parse("粤ICP备2024012345号-3")
    assert parsed.website == 3
    assert parsed.entity_number == "粤ICP备2024012345号"
    assert str(parsed) == "粤ICP备2024012345号-3"
    assert parsed.for_website(4) == FilingNumber("粤", "备", "2024012345", 4)


def test_parse_old_eight_digit_form_has_no_year():
    parsed = parse("京ICP备05012345号")
    assert (parsed.digits, parsed.year, parsed.website) == ("05012345", None, None)
    assert str(parsed) == "京ICP备05012345号"
    assert str(parsed.for_website(2)) == "京ICP备05012345号-2"


def test_parse_licence_number_with_zheng():
    parsed = parse("京ICP证030173号")
    assert (parsed.kind, parsed.digits, parsed.year, parsed.website) == ("证", "030173", None, None)
    assert str(parse("京ICP证030173号-1")) == "京ICP证030173号-1"


@pytest.mark.parametrize(
    "text",
    [
        "  粤ICP备2024012345号-3\n",
        "粤ICP备 2024012345号 - 3",
        "粤\u3000ICP备2024012345号-3",
        "粤icp备2024012345号-3",
        "粤Icp备2024012345号-3",
        "粤ICP备２０２４０１２３４５号－３",
        "粤ＩＣＰ备2024012345号-3",
        "粤ICP备2024012345号—3",
    ],
)
def test_parse_forgives_whitespace_full_width_characters_and_lower_case(text):
    assert str(parse(text)) == "粤ICP备2024012345号-3"


def test_parse_reads_a_licence_plate_abbreviation_as_the_filing_one():
    assert str(parse("川ICP备2021000001号-1")) == "蜀ICP备2021000001号-1"


@given(number=any_number)
def test_canonical_text_parses_back_to_the_same_number(number):
    assert parse(str(number)) == number


@given(number=any_number, pad=st.sampled_from(["", " ", "\u3000", "\t"]))
def test_pasted_text_parses_to_the_same_number(number, pad):
    text = str(number)
    noisy = pad + text.replace("ICP", "icp").translate(FULL_WIDTH) + pad
    assert parse(noisy) == number


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("港ICP备2024012345号", "unknown province"),
        ("XICP备2024012345号", "unknown province"),
        ("粤ICP备202401234号", "9 digits"),
        ("粤ICP备20240123456号", "11 digits"),
        ("京ICP证0301730号", "licence with 7 digits"),
        ("京ICP证05012345号", "licence with 8 digits"),
        ("粤ICP备2024012345", "missing 号"),
        ("粤ICP备2024012345-1", "missing 号 before -N"),
        ("粤ICP备2024012345号-0", "-0"),
        ("粤ICP备2024012345号-01", "leading zero"),
        ("粤ICP备2024012345号-", "empty suffix"),
        ("粤ICP许2024012345号", "neither 备 nor 证"),
        ("粤备2024012345号", "missing ICP"),
        ("ICP备2024012345号", "missing province"),
        ("粤粤ICP备2024012345号", "two provinces"),
        ("粤ICP备2024O12345号", "letter O for zero"),
        ("粤ICP备2024012345号-1-2", "two suffixes"),
        ("", "empty"),
        ("   ", "blank"),
    ],
)
def test_parse_refuses_malformed_numbers(text, why):
    with pytest.raises(Invalid) as exc:
        parse(text)
    assert exc.value.code == "filing_number_invalid", why


def test_refusal_shows_the_expected_form():
    with pytest.raises(Invalid) as exc:
        parse("粤ICP备2024号")
    assert "粤ICP备2024012345号 或 粤ICP备2024012345号-1" in exc.value.message
    assert "粤ICP备2024012345号" in exc.value.message_en


def test_refusal_names_the_unknown_province():
    with pytest.raises(Invalid) as exc:
        parse("港ICP备2024012345号")
    assert "港" in exc.value.message


def test_a_filing_number_cannot_be_built_with_impossible_parts():
    with pytest.raises(ValueError, match="province"):
        FilingNumber("港", "备", "2024012345", None)
    with pytest.raises(ValueError, match="not a filing or licence number"):
        FilingNumber("粤", "证", "2024012345", None)
    with pytest.raises(ValueError, match="count from 1"):
        FilingNumber("粤", "备", "2024012345", 0)
    with pytest.raises(ValueError, match="not a filing or licence number"):
        FilingNumber("粤", "备", "２０２４０１２３４５", None)
