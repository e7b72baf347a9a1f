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


class UsccSeries:
    """USCCs whose organisation code body is "Y" followed by a number written in base 31 (seven
    characters), made a million at a time (`load_national`). Both check characters are weighted sums
    (mod 11 and mod 31) and so are sums of the parts' sums: each part's sum is read off the
    validators' own check functions once (with the other positions "0", which weighs nothing) and
    kept, and a USCC costs a few additions instead of two passes over its characters."""

    LOW = 31**3  # the last three characters of the number: one table of them

    def __init__(self) -> None:
        self._low: list[tuple[str, int, int]] = []
        self._high: dict[int, tuple[str, int, int]] = {}
        self._head: dict[str, int] = {}
        self._org_char = {_org_sum(b): organisation_code_check(b) for b in ("0000000" + c for c in "0123456789A")}
        self._check_sum = {c: _uscc_sum("0" * 16 + c) for c in self._org_char.values()}

    def make(self, head: str, n: int) -> str:
        """`head`: prefix and division (eight digits); `n` < 31**7."""
        if not self._low:
            self._low = [
                (text, _org_sum("00000" + text), _uscc_sum("0" * 13 + text + "0"))
                for text in (base31(i, 3) for i in range(self.LOW))
            ]
        high, low = divmod(n, self.LOW)
        head_sum = self._head.get(head)
        if head_sum is None:
            head_sum = self._head[head] = _uscc_sum(head + "0" * 9)
        found = self._high.get(high)
        if found is None:
            text = "Y" + base31(high, 4)
            found = self._high[high] = (text, _org_sum(text + "000"), _uscc_sum(f"00000000{text}0000"))
        text_high, org_high, uscc_high = found
        text, org_low, uscc_low = self._low[low]
        check = self._org_char[(org_high + org_low) % 11]
        total = head_sum + uscc_high + uscc_low + self._check_sum[check]
        return f"{head}{text_high}{text}{check}{USCC_ALPHABET[-total % 31]}"


def _org_sum(body: str) -> int:
    """The weighted sum mod 11 of an organisation code body, read back from its check character."""
    check = organisation_code_check(body)
    value = 10 if check == "X" else 11 if check == "0" else int(check)
    return (11 - value) % 11


def _uscc_sum(base17: str) -> int:
    """The weighted sum mod 31 of a USCC's first 17 characters, read back from its check character."""
    return -USCC_ALPHABET.index(uscc_check(base17)) % 31


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, digit = divmod(n, 36)
        out = digits[digit] + out
        if not n:
            return out
