"""The provincial bureaus (DESIGN §3; R3, R6): one table of the 31 divisions of mainland China."""

import pytest

from beian.core.errors import Invalid
from beian.core.provinces import PROVINCES, by_code, by_short, lookup

CODE_ORDER = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
]  # fmt: skip


def test_there_are_31_provinces_in_code_order():
    assert [p.code for p in PROVINCES] == CODE_ORDER


@pytest.mark.parametrize("attribute", ["code", "name", "short", "name_en"])
def test_every_province_is_told_apart_by_each_identifier(attribute):
    values = [getattr(p, attribute) for p in PROVINCES]
    assert len(set(values)) == len(values) == 31


def test_codes_are_two_digits_and_shorts_one_character():
    assert all(len(p.code) == 2 and p.code.isdigit() for p in PROVINCES)
    assert all(len(p.short) == 1 for p in PROVINCES)


@pytest.mark.parametrize(
    ("code", "short", "name"),
    [("11", "京", "北京市"), ("15", "蒙", "内蒙古自治区"), ("31", "沪", "上海市"), ("42", "鄂", "湖北省"),
     ("44", "粤", "广东省"), ("50", "渝", "重庆市"), ("61", "陕", "陕西省"),
     ("65", "新", "新疆维吾尔自治区")],
)  # fmt: skip
def test_codes_match_gb_t_2260(code, short, name):
    province = by_code(code)
    assert (province.short, province.name) == (short, name)


@pytest.mark.parametrize(("code", "short"), [("51", "蜀"), ("52", "黔"), ("53", "滇"), ("62", "陇")])
def test_filing_number_abbreviation_is_the_one_miit_uses_not_the_licence_plate_one(code, short):
    assert by_code(code).short == short


@pytest.mark.parametrize(("alias", "code"), [("川", "51"), ("贵", "52"), ("云", "53"), ("甘", "62")])
def test_licence_plate_abbreviation_is_accepted_as_an_alias(alias, code):
    assert by_short(alias).code == code
    assert lookup(alias).code == code


def test_zhejiang_bureau_has_30_working_days_to_decide():
    assert by_short("浙").review_limit_days == 30


def test_every_other_bureau_has_20_working_days_to_decide():
    assert {p.review_limit_days for p in PROVINCES if p.short != "浙"} == {20}


def test_guangdong_accepts_password_recovery_online_only():
    assert by_short("粤").online_recovery_only
    assert [p.short for p in PROVINCES if p.online_recovery_only] == ["粤"]


@pytest.mark.parametrize(
    "value",
    ["44", "粤", "广东省", "广东", "Guangdong", "guangdong", "GUANGDONG", " 粤 ", " guangdong\n"],
)
def test_lookup_accepts_code_short_chinese_or_english_name(value):
    assert lookup(value).code == "44"


@pytest.mark.parametrize(
    ("value", "code"),
    [("Inner Mongolia", "15"), ("inner  mongolia", "15"), ("内蒙古", "15"), ("Shanxi", "14"),
     ("Shaanxi", "61"), ("Tibet", "54"), ("Xizang", "54"), ("北京", "11"), ("广西壮族自治区", "45")],
)  # fmt: skip
def test_lookup_tells_apart_similar_names(value, code):
    assert lookup(value).code == code


def test_every_province_is_found_by_each_of_its_identifiers():
    for p in PROVINCES:
        assert lookup(p.code) is lookup(p.short) is lookup(p.name) is lookup(p.name_en.upper()) is p
        assert by_code(p.code) is by_short(p.short) is p


@pytest.mark.parametrize("value", ["", "99", "港", "澳", "台", "Hong Kong", "广东省省", "4", None, 44])
def test_lookup_refuses_what_is_not_one_of_the_31(value):
    with pytest.raises(Invalid) as exc:
        lookup(value)
    assert exc.value.code == "province_unknown"


def test_by_code_and_by_short_refuse_unknown_values():
    with pytest.raises(Invalid) as exc:
        by_code("99")
    assert exc.value.code == "province_unknown"
    with pytest.raises(Invalid) as exc:
        by_short("港")
    assert exc.value.code == "province_unknown"
    assert "港" in exc.value.message


def test_by_code_does_not_take_a_name():
    with pytest.raises(Invalid):
        by_code("广东省")
