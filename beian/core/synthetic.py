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
