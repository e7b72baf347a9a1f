"""One world for all the rows of a table, as Django's TestCase.setUpTestData makes one per class: it
is built once inside a transaction on each database, every row runs in a savepoint of its own within
it (pytest-django's `db`), which is rolled back after the row, and the whole world is rolled back
after the last row. A row that changes data therefore leaves nothing for the next, and each row gets
its own copy of the world's Python objects (deep-copied, as setUpTestData's attributes are)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from django.db import transaction
from django.test import override_settings

T = TypeVar("T")

# The world's accounts are hashed as the tests' own are (tests/conftest.py `_fast_hashing`).
FAST_HASHING = {
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "BEIAN_ARGON2_TIME_COST": 1,
    "BEIAN_ARGON2_MEMORY_KIB": 64,
}


@contextmanager
def built_once(
    django_db_blocker, build: Callable[[], T], *, databases=("default", "bureau"), **settings: Any
) -> Iterator[T]:
    """Yields what `build` made (under `settings`, as the rows' autouse fixtures set them), in
    transactions on `databases` that are rolled back at the end."""
    with ExitStack() as stack:
        stack.enter_context(django_db_blocker.unblock())
        for alias in databases:
            stack.enter_context(transaction.atomic(using=alias))
            stack.callback(transaction.set_rollback, True, using=alias)
        with override_settings(**FAST_HASHING, **settings):
            made = build()
        yield made


def own_copy(world: Any) -> Any:
    """A row's own copy of the world's objects (a row may change the instances it is handed)."""
    return copy.deepcopy(world)
