"""Identifiers that pass every check and belong to no one, for the demo world and the tests.

Real certificate numbers must never appear in demos or fixtures; these are computed from the
standards' check-digit rules (GB 11643 for resident IDs, GB 32100 and GB 11714 for USCCs).
"""

from __future__ import annotations

from datetime import date

from stdnum.cn import ric, uscc

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def organisation_code(body: str) -> str:
    """GB 11714: eight characters and their check character."""
    if len(body) != 8:
        raise ValueError("an organisation code body has 8 characters")
    check = 11 - sum(w * _org_value(c) for w, c in zip(_ORG_WEIGHTS, body, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(prefix: str, division: str, org_body: str) -> str:
    """`prefix`: registration authority and type (e.g. "91" an enterprise); `division`: six-digit
    GB/T 2260 code; `org_body`: eight characters of the embedded organisation code."""
    base = prefix + division + organisation_code(org_body)
    return base + uscc.calc_check_digit(base)


def make_resident_id(division: str, birth: date, sequence: int) -> str:
    """`sequence` 0..999; its parity is the sex digit, as on a real card."""
    base = f"{division}{birth:%Y%m%d}{sequence:03d}"
    # stdnum expects a placeholder where the check digit goes.
    return base + ric.calc_check_digit(base + "0")


# ---------------------------------------------------------------- check digits at bulk speed
#
# The national registry generator makes millions of identifiers; these compute the same check
# characters as the functions above (and as `beian.core.validators` checks them) without
# stdnum's per-call parsing. Tests hold them equal to stdnum's.

# GB 11643: weight of position i is 2^(17-i) mod 11; the check is "10X98765432"[sum mod 11].
_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RIC_CHECK = "10X98765432"

# GB 32100: 31 characters (no I, O, Z, S, V); weight of position i is 3^i mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def resident_id_check(base17: str) -> str:
    """The 18th character of a resident ID whose first 17 digits are `base17`."""
    return _RIC_CHECK[sum(w * (ord(c) - 48) for w, c in zip(_RIC_WEIGHTS, base17, strict=True)) % 11]


def uscc_check(base17: str) -> str:
    """The 18th character of a USCC whose first 17 characters are `base17`."""
    total = sum(w * _USCC_VALUE[c] for w, c in zip(_USCC_WEIGHTS, base17, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def fast_uscc(prefix: str, division: str, org_body: str) -> str:
    """`make_uscc` at bulk speed: `org_body` must use only the USCC alphabet."""
    base = prefix + division + organisation_code(org_body)
    return base + uscc_check(base)


def fast_resident_id(division: str, birth_yyyymmdd: str, sequence: int) -> str:
    base = f"{division}{birth_yyyymmdd}{sequence:03d}"
    return base + resident_id_check(base)


def base31(n: int, width: int) -> str:
    """`n` written in the USCC alphabet, `width` characters wide (so it can stand in a USCC body)."""
    out = []
    for _ in range(width):
        n, digit = divmod(n, 31)
        out.append(USCC_ALPHABET[digit])
    if n:
        raise ValueError("number too large for its width")
    return "".join(reversed(out))


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, digit = divmod(n, 36)
        out = digits[digit] + out
        if not n:
            return out
