"""DESIGN §9: random secrets are kept as keyed digests, checked in constant time; a rotation of
SECRET_KEY keeps them working while the old key is a fallback, and re-keys each on use."""

from hypothesis import given
from hypothesis import strategies as st

from beian import digests

PURPOSE = "tests.core.digests"


def test_a_secret_matches_its_digest_and_nothing_else(settings):
    stored = digests.digest("the-secret", purpose=PURPOSE)
    assert digests.check(stored, "the-secret", purpose=PURPOSE) == (True, None)
    assert digests.check(stored, "the-secreT", purpose=PURPOSE) == (False, None)
    # Another purpose, another key: a digest of one kind of secret is never taken for another's.
    assert digests.check(stored, "the-secret", purpose="tests.core.other") == (False, None)


def test_a_digest_under_a_fallback_key_matches_and_gives_the_current_one(settings):
    stored = digests.digest("the-secret", purpose=PURPOSE)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "another-deployment-key-" + "y" * 40
    matched, rekeyed = digests.check(stored, "the-secret", purpose=PURPOSE)
    assert matched
    assert rekeyed == digests.digest("the-secret", purpose=PURPOSE) != stored
    assert digests.check(rekeyed, "the-secret", purpose=PURPOSE) == (True, None)
    settings.SECRET_KEY_FALLBACKS = []
    assert digests.check(stored, "the-secret", purpose=PURPOSE) == (False, None)


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_only_the_same_secret_matches(secret, other):
    stored = digests.digest(secret, purpose=PURPOSE)
    assert digests.check(stored, other, purpose=PURPOSE)[0] == (secret == other)
