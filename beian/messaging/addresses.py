"""Recipients in one canonical form, so that `+86 138-0013-8000` and `13800138000` are the same
phone and `Li@Example.CN` and `li@example.cn` the same inbox.

`normalise` is lenient (for reading the sandbox: anything goes, nothing crashes); `phone` and
`email_address` are strict (for sending: a message to an unusable recipient is refused).
"""

from __future__ import annotations

import re
import unicodedata
from email.utils import parseaddr

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PHONE_CHARS = re.compile(r"[+\d\s\-().]+")
_MOBILE = re.compile(r"1\d{10}")
MAX_LENGTH = 254


def _clean(value: str) -> str:
    return _CONTROL.sub("", value).strip()


def _mobile(value: str) -> str | None:
    """The 11-digit mainland mobile number `value` spells, with or without +86/0086/86, spaces,
    hyphens, dots and brackets (full-width characters included), or None."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not _PHONE_CHARS.fullmatch(text):
        return None
    compact = re.sub(r"[^\d+]", "", text)
    if compact.startswith("+86"):
        digits = compact[3:]
    elif compact.startswith("0086"):
        digits = compact[4:]
    elif len(compact) == 13 and compact.startswith("86"):
        digits = compact[2:]
    else:
        digits = compact
    return digits if _MOBILE.fullmatch(digits) else None


def is_email(recipient: str) -> bool:
    return "@" in recipient


def normalise(recipient: str) -> str:
    """The canonical form of a phone number or email address; anything else is returned without
    control characters and surrounding space, so that it simply matches nothing."""
    text = _clean(recipient)
    if is_email(text):
        return text.lower()
    return _mobile(text) or text


def phone(number: str) -> str:
    """A mainland mobile number as 11 digits, or ValueError."""
    mobile = _mobile(_clean(number))
    if mobile is None:
        raise ValueError(f"not a mainland mobile number: {number!r}")
    return mobile


def email_address(address: str) -> str:
    """A bare, lower-case email address from `a@b.cn` or `Name <a@b.cn>`, or ValueError."""
    if _CONTROL.search(address):
        raise ValueError(f"not an email address: {address!r}")
    _, bare = parseaddr(address.strip())
    bare = bare.strip().lower()
    try:
        validate_email(bare)
    except ValidationError:
        raise ValueError(f"not an email address: {address!r}") from None
    if len(bare) > MAX_LENGTH:
        raise ValueError(f"email address longer than {MAX_LENGTH} characters: {address!r}")
    return bare


def search_fragment(query: str) -> str:
    """What a search box entry looks for among canonical recipients: a whole phone number, the
    digits of part of one, or a lower-case piece of an address."""
    text = _clean(query)
    mobile = _mobile(text)
    if mobile:
        return mobile
    if _PHONE_CHARS.fullmatch(unicodedata.normalize("NFKC", text)):
        return re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
    return text.lower()
