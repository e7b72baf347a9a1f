"""Field validators (DESIGN §3): certificate numbers with their real check digits, contact details,
server IPs, names, the website-name word lists, and which unit type may file with which certificate.

Every identifier here was computed with the standards' check-digit algorithms (GB 11643, GB 32100,
GB 11714) for this test, or is the published example of python-stdnum; none belongs to a person.
Domains are in test_domains.py.
"""

import json
import subprocess
import sys
from datetime import date
from importlib import resources

import pytest

from beian.core import validators as v
from beian.core.errors import Invalid
from beian.core.provinces import PROVINCES
from beian.core.synthetic import make_uscc

TODAY = date(2026, 3, 2)


# GB 11643, written out independently of stdnum so that the tests check the library too.
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _resident_id(body: str) -> str:
    """17 digits and their GB 11643 check digit."""
    check = (12 - sum(int(d) * w for d, w in zip(body, _RESIDENT_ID_WEIGHTS, strict=True)) % 11) % 11
    return body + ("X" if check == 10 else str(check))


def test_resident_id_helper_matches_stdnum_published_example():
    assert _resident_id("36042619910101007") == "360426199101010071"


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(Invalid) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_core_validators_import_no_django():
    """beian.core is pure: importing the validators must not pull Django in."""
    probe = "import sys, beian.core.validators; print(any(m.split('.')[0] == 'django' for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- resident ID


@pytest.mark.parametrize(
    "number",
    [
        "110101199001011237",
        "44030519850715003X",  # check digit 10 is written X
        "650102195812310074",
    ],
)
def test_resident_id_accepts_a_valid_number(number):
    assert v.resident_id(number, today=TODAY) == number


def test_resident_id_strips_spaces_and_upper_cases_x():
    assert v.resident_id(" 440305 19850715 003x ", today=TODAY) == "44030519850715003X"


def test_resident_id_folds_full_width_digits():
    assert v.resident_id("１１０１０１１９９００１０１１２３７", today=TODAY) == "110101199001011237"


@pytest.mark.parametrize(
    "number", ["", "11010119900101123", "1101011990010112370", "11010119900101123Y", "X10101199001011237"]
)
def test_resident_id_refuses_wrong_shape(number):
    assert _code(v.resident_id, number, today=TODAY) == "resident_id_format"


@pytest.mark.parametrize("number", ["110101199001011238", "110101199001011230", "440305198507150031"])
def test_resident_id_refuses_wrong_check_digit(number):
    with pytest.raises(Invalid) as caught:
        v.resident_id(number, today=TODAY)
    assert caught.value.code == "resident_id_checksum"
    assert "校验位" in caught.value.message


def test_resident_id_refuses_impossible_birth_date():
    # 1990-02-30, with a check digit that is right for it
    assert _code(v.resident_id, "110101199002301236", today=TODAY) == "resident_id_birth_date"


def test_resident_id_refuses_birth_before_1900():
    assert _code(v.resident_id, "110101189912311231", today=TODAY) == "resident_id_birth_date"


def test_resident_id_refuses_future_birth_date():
    from stdnum.cn import ric

    assert ric.is_valid("110101203001011236")  # stdnum accepts it: 2030-01-01 is a valid date
    assert _code(v.resident_id, "110101203001011236", today=TODAY) == "resident_id_future_birth"


def test_resident_id_future_birth_is_judged_by_the_clock_by_default(clock):
    born_today = _resident_id("11010120260302001")  # the clock fixture's date
    born_tomorrow = _resident_id("11010120260303001")
    assert v.resident_id(born_today) == born_today
    assert _code(v.resident_id, born_tomorrow) == "resident_id_future_birth"


@pytest.mark.parametrize(
    "number", ["990000199001011239", "200000199001011237", "100000199001011233", "660000199001011232"]
)
def test_resident_id_refuses_unknown_region(number):
    assert _code(v.resident_id, number, today=TODAY) == "resident_id_region"


@pytest.mark.parametrize(
    "number",
    [
        "710000199001011237",  # 台湾 in GB/T 2260
        "810000199001011230",  # 香港
        "820000199001011232",  # 澳门
        "830000199001011234",  # residence permit of a Taiwan resident
    ],
)
def test_resident_id_accepts_taiwan_hong_kong_and_macao_prefixes(number):
    assert v.resident_id(number, today=TODAY) == number


def test_resident_id_accepts_every_mainland_province_prefix():
    for province in PROVINCES:
        number = _resident_id(f"{province.code}000019900101005")
        assert v.resident_id(number, today=TODAY) == number


# ---------------------------------------------------------------- unified social credit code


@pytest.mark.parametrize(
    "number",
    [
        "91350100M000100Y43",  # stdnum's example; embedded organisation code M000100Y4 is valid too
        "91110000600037341L",  # stdnum's example; embedded 600037341
        "91440300MA01PQR4XF",  # organisation code check 10 → X
        "91440300MA01P00208",  # organisation code check 11 → 0
    ],
)
def test_uscc_accepts_a_valid_code(number):
    assert v.uscc(number) == number


def test_uscc_upper_cases_and_strips_spaces():
    assert v.uscc(" 91350100 m000100y43 ") == "91350100M000100Y43"


@pytest.mark.parametrize(
    "number",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",
        "9135010AM000100Y43",  # letter among the first 8
        "91350100M000100I43",  # I is not in the USCC alphabet
    ],
)
def test_uscc_refuses_wrong_shape(number):
    assert _code(v.uscc, number) == "uscc_format"


@pytest.mark.parametrize("number", ["91350100M000100Y44", "91110000600037341M"])
def test_uscc_refuses_wrong_check_character(number):
    assert _code(v.uscc, number) == "uscc_checksum"


@pytest.mark.parametrize(
    "number",
    [
        # Organisation code check changed (4 → 5, 1 → 2), USCC check character recomputed to fit:
        # stdnum accepts both.
        "91350100M000100Y56",
        "91110000600037342P",
    ],
)
def test_uscc_refuses_wrong_embedded_organisation_code_check(number):
    from stdnum.cn import uscc as stdnum_uscc

    assert stdnum_uscc.is_valid(number)
    with pytest.raises(Invalid) as caught:
        v.uscc(number)
    assert caught.value.code == "uscc_organisation_code"
    assert number[8:17] in caught.value.message


def test_organisation_code_check_follows_gb_11714():
    assert v.organisation_code_check("M000100Y") == "4"
    assert v.organisation_code_check("60003734") == "1"
    assert v.organisation_code_check("MA01PQR4") == "X"
    assert v.organisation_code_check("MA01P002") == "0"


# ---------------------------------------------------------------- mobile and email


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "8613812345678",
        "0086 13812345678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_accepts_common_forms(raw):
    assert v.mobile(raw) == "13812345678"


@pytest.mark.parametrize("raw", ["19912345678", "16612345678"])
def test_mobile_accepts_every_second_digit_from_3_to_9(raw):
    assert v.mobile(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12812345678",
        "1381234567",
        "138123456789",
        "+85291234567",
        "021-12345678",
        "1381234567a",
        "+1 13812345678",
    ],
)
def test_mobile_refuses_non_mainland_numbers(raw):
    assert _code(v.mobile, raw) == "mobile_invalid"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("name@example.cn", "name@example.cn"),
        (" Name.Surname+tag@Mail.Example.COM.CN ", "Name.Surname+tag@mail.example.com.cn"),
        ("a@例子.中国", "a@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_email_returns_lower_case_a_label_domain(raw, expected):
    assert v.email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "example.cn",
        "@example.cn",
        "a@@example.cn",
        "a@b@example.cn",
        "a b@example.cn",
        "a@localhost",
        "a@1.2.3.4",
        "a@exa mple.cn",
        "a@-x.cn",
        f"{'a' * 65}@example.cn",
    ],
)
def test_email_refuses_malformed_address(raw):
    assert _code(v.email, raw) == "email_invalid"


# ---------------------------------------------------------------- server IPs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8.8.8.8", "8.8.8.8"),
        (" 114.114.114.114 ", "114.114.114.114"),
        ("2400:3200:0000:0000:0000:0000:0000:0001", "2400:3200::1"),
        ("[240E:0:0::1]", "240e::1"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
    ],
)
def test_ip_address_accepts_public_address_in_canonical_form(raw, expected):
    assert v.ip_address(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "169.254.1.1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",
        "::",
        "100.64.0.1",
        "240.0.0.1",
        "fc00::1",
    ],
)
def test_ip_address_refuses_non_public_address(raw):
    assert _code(v.ip_address, raw) == "ip_not_public"


@pytest.mark.parametrize("raw", ["", "1.2.3", "256.1.1.1", "01.2.3.4", "example.cn", "fe80::1%eth0", "2400:3200::1::2"])
def test_ip_address_refuses_what_is_no_address(raw):
    assert _code(v.ip_address, raw) == "ip_invalid"


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张三"),
        ("  欧阳  娜娜 ", "欧阳 娜娜"),
        ("买买提·艾力", "买买提·艾力"),
        ("买买提・艾力", "买买提·艾力"),  # katakana middle dot, as Japanese IMEs type it
        ("John Smith", "John Smith"),
        ("Mary-Jane O'Neil", "Mary-Jane O'Neil"),
    ],
)
def test_person_name_accepts_names_as_on_certificates(raw, expected):
    assert v.person_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "张", "·张三", "张三·", "张三3", "张三@", "a" * 31, "张<b>"])
def test_person_name_refuses_bad_name(raw):
    assert _code(v.person_name, raw) == "person_name_invalid"


@pytest.mark.parametrize("raw", ["深圳市演示科技有限公司", "杭州西湖网络科技有限公司（滨江分公司）", "A&B 咨询 Ltd."])
def test_organisation_name_accepts_registered_names(raw):
    assert v.organisation_name(raw) == raw


def test_organisation_name_keeps_full_width_brackets():
    assert v.organisation_name(" 某某科技有限公司（北京）") == "某某科技有限公司（北京）"


@pytest.mark.parametrize("raw", ["", "某", "1234", "某某\x00公司", "某" * 101])
def test_organisation_name_refuses_bad_name(raw):
    assert _code(v.organisation_name, raw) == "organisation_name_invalid"


# ---------------------------------------------------------------- website names

WORDS = json.loads(resources.files("beian.core").joinpath("data").joinpath("words.json").read_text("utf-8"))
NON_STATE = [code for code, unit in v.UNIT_TYPES.items() if not unit.state_body]
STATE = [code for code, unit in v.UNIT_TYPES.items() if unit.state_body]


def test_website_name_word_lists_hold_the_words_design_names():
    assert {"博客", "论坛", "社区", "工作室", "平台"} <= WORDS["individual_forbidden"].keys()
    assert {"新闻", "出版", "药品", "医疗器械", "教育", "文化", "网络游戏", "金融", "宗教"} <= WORDS[
        "pre_approval"
    ].keys()
    assert {"中国", "中华", "国家", "人民"} <= WORDS["state"].keys()


@pytest.mark.parametrize("unit", ["individual", "enterprise", "government"])
def test_website_name_accepts_a_plain_chinese_name(unit):
    assert v.website_name("  四季  随笔 ", unit_type=unit) == "四季 随笔"


@pytest.mark.parametrize("raw", ["", "四", "四" * 51])
def test_website_name_refuses_wrong_length(raw):
    assert _code(v.website_name, raw, unit_type="enterprise") == "website_name_length"


@pytest.mark.parametrize("raw", ["12345", "１２３４５", "hello", "Hello World", "abc123", "my-site!"])
def test_website_name_refuses_pure_digits_or_letters(raw):
    assert _code(v.website_name, raw, unit_type="enterprise") == "website_name_pure_ascii"


def test_website_name_says_pure_digits_for_digits():
    with pytest.raises(Invalid) as caught:
        v.website_name("2024", unit_type="enterprise")
    assert "纯数字" in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "example.cn",
        "www.example.com.cn",
        "http://example.cn",
        "例子.中国",
        "例子。中国",
        "我的example.cn站点",
        "EXAMPLE.COM",
    ],
)
def test_website_name_refuses_a_domain_or_url(raw):
    assert _code(v.website_name, raw, unit_type="enterprise") == "website_name_domain"


def test_website_name_with_a_dot_that_is_no_domain_is_accepted():
    assert v.website_name("Web2.0 技术笔记", unit_type="enterprise") == "Web2.0 技术笔记"


@pytest.mark.parametrize("word", sorted(WORDS["individual_forbidden"]))
def test_website_name_refuses_individual_forbidden_word_for_individual(word):
    with pytest.raises(Invalid) as caught:
        v.website_name(f"张三的{word}", unit_type="individual")
    assert caught.value.code == "website_name_individual_word"
    assert word in caught.value.message
    assert word in caught.value.message_en


@pytest.mark.parametrize("word", sorted(WORDS["pre_approval"]))
def test_website_name_refuses_pre_approval_word_for_individual(word):
    with pytest.raises(Invalid) as caught:
        v.website_name(f"张三{word}之家", unit_type="individual")
    assert caught.value.code == "website_name_pre_approval"
    assert word in caught.value.message


def test_website_name_names_the_longest_matching_word():
    with pytest.raises(Invalid) as caught:
        v.website_name("张三医疗器械之家", unit_type="individual")
    assert "“医疗器械”" in caught.value.message


def test_website_name_finds_a_word_split_by_spaces():
    assert _code(v.website_name, "张三的 博 客", unit_type="individual") == "website_name_individual_word"


@pytest.mark.parametrize("unit", [u for u in v.UNIT_TYPES if u != "individual"])
def test_website_name_allows_individual_and_pre_approval_words_for_units(unit):
    assert v.website_name("演示科技官网", unit_type=unit) == "演示科技官网"
    assert v.website_name("演示新闻中心", unit_type=unit) == "演示新闻中心"


@pytest.mark.parametrize("unit", NON_STATE)
@pytest.mark.parametrize("word", sorted(WORDS["state"]))
def test_website_name_refuses_state_word_for_non_state_unit(word, unit):
    with pytest.raises(Invalid) as caught:
        v.website_name(f"{word}风景", unit_type=unit)
    assert caught.value.code == "website_name_state_word"
    assert word in caught.value.message


@pytest.mark.parametrize("unit", STATE)
@pytest.mark.parametrize("word", sorted(WORDS["state"]))
def test_website_name_allows_state_word_for_state_body(word, unit):
    assert v.website_name(f"{word}风景", unit_type=unit) == f"{word}风景"


def test_state_bodies_are_government_institution_and_defense():
    assert set(STATE) == {"government", "institution", "defense"}


def test_website_name_refuses_unknown_unit_type():
    assert _code(v.website_name, "四季随笔", unit_type="alien") == "unit_type_unknown"


# ---------------------------------------------------------------- unit types and certificates


def test_unit_type_returns_the_table_row():
    assert v.unit_type("enterprise").name == "企业"
    assert v.unit_type("individual").individual


@pytest.mark.parametrize("code", ["", "company", "ENTERPRISE", None])
def test_unit_type_refuses_unknown_code(code):
    assert _code(v.unit_type, code) == "unit_type_unknown"


def test_person_id_types_are_the_personal_documents():
    assert set(v.PERSON_ID_TYPES) == {
        "resident_id",
        "passport",
        "hk_macao_permit",
        "taiwan_permit",
        "foreign_permanent_residence",
    }
    assert set(v.UNIT_TYPES["individual"].cert_types) == set(v.PERSON_ID_TYPES)


def test_every_unit_type_names_known_certificate_types():
    for unit in v.UNIT_TYPES.values():
        assert set(unit.cert_types) <= v.CERT_TYPES.keys()


def _uscc_for(prefix: str) -> str:
    return make_uscc(prefix, "110000", "MA01PQR7")


# unit type → (an allowed cert type and a valid number for it, a cert type it may not use)
MATRIX: dict[str, tuple[str, str, str]] = {
    "government": ("uscc", "11110000MA01PQR74D", "resident_id"),
    "institution": ("uscc", "12110000MA01PQR74A", "military_certificate"),
    "enterprise": ("uscc", "91110000MA01PQR745", "resident_id"),
    "individual": ("resident_id", "110101199001011237", "uscc"),
    "social_group": ("uscc", "51110000MA01PQR749", "passport"),
    "private_non_enterprise": ("uscc", "52110000MA01PQR746", "resident_id"),
    "foundation": ("uscc", "53110000MA01PQR743", "hk_macao_permit"),
    "law_firm": ("uscc", "31110000MA01PQR74B", "resident_id"),
    "defense": ("military_certificate", "JZ2023001", "resident_id"),
}


def test_certificate_matrix_covers_every_unit_type():
    assert MATRIX.keys() == v.UNIT_TYPES.keys()


@pytest.mark.parametrize(("unit", "cert_type", "number"), [(u, c, n) for u, (c, n, _) in MATRIX.items()])
def test_certificate_accepts_allowed_cert_type_for_unit(unit, cert_type, number):
    assert v.certificate(cert_type, number, unit_type=unit, today=TODAY) == number


@pytest.mark.parametrize(("unit", "cert_type"), [(u, bad) for u, (_, _, bad) in MATRIX.items()])
def test_certificate_refuses_cert_type_not_allowed_for_unit(unit, cert_type):
    with pytest.raises(Invalid) as caught:
        v.certificate(cert_type, "110101199001011237", unit_type=unit, today=TODAY)
    assert caught.value.code == "certificate_not_allowed"
    assert v.UNIT_TYPES[unit].name in caught.value.message


@pytest.mark.parametrize(
    "cert_type",
    ["resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_permanent_residence"],
)
def test_certificate_individual_may_use_every_personal_document(cert_type):
    assert cert_type in v.UNIT_TYPES["individual"].cert_types


@pytest.mark.parametrize(
    ("unit", "prefix"),
    [
        ("government", "91"),
        ("institution", "11"),
        ("enterprise", "51"),
        ("social_group", "91"),
        ("law_firm", "12"),
    ],
)
def test_certificate_refuses_uscc_whose_authority_code_does_not_fit_unit(unit, prefix):
    with pytest.raises(Invalid) as caught:
        v.certificate("uscc", _uscc_for(prefix), unit_type=unit)
    assert caught.value.code == "certificate_unit_mismatch"
    assert prefix in caught.value.message


@pytest.mark.parametrize("prefix", ["91", "92", "93"])
def test_certificate_enterprise_accepts_each_enterprise_prefix(prefix):
    assert v.certificate("uscc", _uscc_for(prefix), unit_type="enterprise") == _uscc_for(prefix)


@pytest.mark.parametrize("prefix", ["11", "12", "91", "13"])
def test_certificate_defense_accepts_uscc_of_any_prefix(prefix):
    assert v.certificate("uscc", _uscc_for(prefix), unit_type="defense") == _uscc_for(prefix)


def test_certificate_without_unit_type_checks_only_the_number():
    assert v.certificate("uscc", _uscc_for("11")) == _uscc_for("11")
    assert _code(v.certificate, "uscc", "91350100M000100Y44") == "uscc_checksum"


def test_certificate_refuses_unknown_cert_type():
    assert _code(v.certificate, "driving_licence", "123456") == "cert_type_unknown"


def test_certificate_refuses_unknown_unit_type():
    assert _code(v.certificate, "uscc", _uscc_for("91"), unit_type="alien") == "unit_type_unknown"


def test_certificate_resident_id_uses_today():
    assert _code(v.certificate, "resident_id", "110101203001011236", today=TODAY) == "resident_id_future_birth"


@pytest.mark.parametrize(
    ("cert_type", "raw", "expected"),
    [
        ("passport", "e1234 5678", "E12345678"),
        ("passport", "G12345", "G12345"),
        ("hk_macao_permit", "H12345678", "H12345678"),
        ("hk_macao_permit", "m1234567890", "M1234567890"),
        ("taiwan_permit", "12345678", "12345678"),
        ("taiwan_permit", "1234567890", "1234567890"),
        ("foreign_permanent_residence", "usa110085041501", "USA110085041501"),
        ("foreign_permanent_residence", "911234199001011234", "911234199001011234"),
        ("military_certificate", "JZ2023001", "JZ2023001"),
    ],
)
def test_certificate_accepts_number_of_the_documents_shape(cert_type, raw, expected):
    assert v.certificate(cert_type, raw) == expected


@pytest.mark.parametrize(
    ("cert_type", "raw"),
    [
        ("passport", "E123"),
        ("passport", "E1234567890123456789X"),
        ("passport", "E1234-5678"),
        ("hk_macao_permit", "A12345678"),
        ("hk_macao_permit", "H123456789"),
        ("taiwan_permit", "1234567"),
        ("taiwan_permit", "123456789"),
        ("foreign_permanent_residence", "811234199001011234"),
        ("foreign_permanent_residence", "US1110085041501"),
        ("military_certificate", "JZ12"),
    ],
)
def test_certificate_refuses_number_of_the_wrong_shape(cert_type, raw):
    assert _code(v.certificate, cert_type, raw) == f"{cert_type}_format"


# ---------------------------------------------------------------- last six of an ID


@pytest.mark.parametrize(("raw", "expected"), [("011237", "011237"), ("15020x", "15020X"), (" 123 456 ", "123456")])
def test_id_last6_upper_cases_and_strips(raw, expected):
    assert v.id_last6(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "12345Y", "abcdef"])
def test_id_last6_refuses_anything_but_six_id_characters(raw):
    assert _code(v.id_last6, raw) == "id_last6_invalid"
