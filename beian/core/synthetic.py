"""Identifiers that pass every check and belong to no one, for the demo world and the tests.

Real certificate numbers must never appear in demos or fixtures; these are computed from the
standards' check-digit rules (GB 11643 for resident IDs, GB 32100 and GB 11714 for USCCs).
"""

from __future__ import annotations

from datetime import date

from beian.core.validators import USCC_ALPHABET, organisation_code_check, resident_id_check, uscc_check


def organisation_code(body: str) -> str:
    """GB 11714: eight characters and their check character."""
    if len(body) != 8:
        raise ValueError("an organisation code body has 8 characters")
    return body + organisation_code_check(body)


def make_uscc(prefix: str, division: str, org_body: str) -> str:
    """`prefix`: registration authority and type (e.g. "91" an enterprise); `division`: six-digit
    GB/T 2260 code; `org_body`: eight characters of the embedded organisation code."""
    base = prefix + division + organisation_code(org_body)
    return base + uscc_check(base)


def make_resident_id(division: str, birth: date, sequence: int) -> str:
    """`sequence` 0..999; its parity is the sex digit, as on a real card."""
    return fast_resident_id(division, f"{birth:%Y%m%d}", sequence)


# The check characters are those the validators check (beian.core.validators), computed by the
# same functions, so a generated identifier can only be what a filer could submit.

fast_uscc = make_uscc  # the national generator's name for it: organisation code body in USCC_ALPHABET


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
