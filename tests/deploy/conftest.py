from tests.bureau.conftest import world  # noqa: F401 - shared fixtures
