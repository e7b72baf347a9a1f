"""The provider's fixtures (its client reaches the real bureau in-process), for the operations tests."""

from tests.provider.conftest import _sandbox_email, bureau, keys, people  # noqa: F401 - shared fixtures
