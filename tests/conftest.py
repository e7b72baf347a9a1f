"""Shared fixtures. Time is a ManualClock, never a sleep; hashing is cheap so the suite is fast
(the production parameters are in settings, and one test checks they are Argon2)."""

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from beian.core import clock as clock_module
from beian.core.clock import CHINA, ManualClock, OffsetClock, SystemClock

# Every test fails if a secret its world issued is in clear in a log record or an answer (issue 14).
pytest_plugins = ["tests.secretscan"]

# The property tests run derandomized in `make test`: the same code gets the same examples and the
# same verdict, so a red CI always points at the code, never at the draw. `make test-explore` runs
# them with fresh randomness and many more examples, to hunt; what it finds becomes an @example or
# a plain test here. Nothing is written under the repository either way.
# too_slow: how fast examples are drawn depends on the machine's load, not on the code, and CI must give
# the same verdict on the same code.
hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile("explore", max_examples=1000, database=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("BEIAN_HYPOTHESIS_PROFILE", "ci"))


def _transactional(item) -> tuple[bool, bool]:
    """(flushes its databases at the end, puts the migrations' contents back at its start)."""
    from pytest_django.fixtures import validate_django_db

    marker = item.get_closest_marker("django_db")
    transaction, reset_sequences, _, serialized_rollback, _ = (
        validate_django_db(marker) if marker else (False, False, None, False, None)
    )
    fixtures = getattr(item, "fixturenames", ())
    flushes = transaction or reset_sequences or "transactional_db" in fixtures or "live_server" in fixtures
    return flushes, flushes and serialized_rollback


# The files that take longest, slowest first. pytest-xdist's loadfile would start the files with
# most tests first and leave these, most of which have few tests but start whole platforms, browsers
# or servers, to the end, where one of them trails while the other worker idles: they are started
# first instead, then the rest as xdist would order them. In brackets: the CPU seconds of the file
# (pytest and the processes it started and reaped, os.times per test) in the SQLite half, measured
# 2026-12-03 (docs/performance.md "The suite's own time"); the files that wait on their
# servers (s19, s01, fleet, s18) take two to three times that in wall time. Keep it true when a file
# grows slow: a file of few tests left out runs last.
SLOWEST_FILES = (
    "tests/enforcement/test_fleet.py",  # 37
    "tests/browser/test_journeys.py",  # 31
    "tests/enforcement/test_s18_nginx.py",  # 26
    "tests/provider/test_s19_outage.py",  # 26
    "tests/bureau/test_invariants_stateful.py",  # 23
    "tests/deploy/test_s01_two_deployments.py",  # 23
    "tests/provider/test_api_authorization.py",  # 18
    "tests/browser/test_english_journeys.py",  # 18
    "tests/provider/test_api_applications.py",  # 17
    "tests/deploy/test_granian_query_tier.py",  # 16 (measured 2026-12-04, load 5.6)
    "tests/browser/test_many_applications.py",  # 15
    "tests/provider/test_pages_authorization.py",  # 15
    "tests/bureau/test_transition_table.py",  # 14
    "tests/test_english_pages.py",  # 14
    "tests/test_fuzz_apis.py",  # 13
    "tests/bureau/test_sim_faults.py",  # 11
    "tests/test_keepalive.py",  # 10
    "tests/provider/test_transition_table.py",  # 8
    "tests/bureau/test_national_load.py",  # 8
    "tests/browser/test_token_journey.py",  # 8
    "tests/enforcement/test_haproxy.py",  # 7
    "tests/bureau/test_public_query_scale.py",  # 7
    "tests/test_production.py",  # 7
    "tests/bureau/test_query_handler.py",  # 6
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Every transactional test asks for serialized rollback (below, `pytest_runtest_teardown`: one
    without it leaves the migrations' contents to be put back over what its flush's post_migrate made
    again, and every later test of its worker fails). With --no-loadscope-reorder (scripts/pytest-run
    passes it with --dist loadfile, and xdist then hands the files out in the order its workers
    collected them): SLOWEST_FILES first, then the files with most tests. The order within a file is
    kept."""
    unserialized = [item.nodeid for item in items if _transactional(item) == (True, False)]
    if unserialized:
        raise pytest.UsageError(
            "transactional tests without serialized_rollback=True (tests/conftest.py says why): "
            + ", ".join(unserialized[:5])
        )
    if getattr(config.option, "loadscopereorder", True):
        return
    path_of = {item: item.nodeid.split("::")[0] for item in items}
    tests_in = Counter(path_of.values())
    rank = {path: place for place, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: (rank.get(path_of[item], len(rank)), -tests_in[path_of[item]], path_of[item]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test ends by flushing its databases (Django's TransactionTestCase), and the
    flush empties what the migrations filled: the provinces, the holiday calendar every window counts
    in. Django's runner and pytest-django run such tests after the others for that reason, but
    pytest-xdist's loadfile hands out the largest files first, so a test that runs after one on the
    same worker would count windows in an empty calendar. The contents are put back here, unless the
    next test puts them back itself (`serialized_rollback`) or there is none."""
    yield
    if not _transactional(item)[0] or nextitem is None or _transactional(nextitem)[1]:
        return
    from django.db import connections
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        for alias in connections:
            contents = getattr(connections[alias], "_test_serialized_contents", None)
            if contents:
                connections[alias].creation.deserialize_db_from_string(contents)


@pytest.fixture(autouse=True, scope="session")
def _plain_clock():
    """The running bureau adds its simulated offset (kept in its database) to every clock reading;
    tests that want it ask for `sim_clock`, the rest read a plain clock and touch no database."""
    clock_module.install(SystemClock())


@pytest.fixture(autouse=True, scope="session")
def _static_files_listed_once():
    """Every test Client loads the middleware afresh, and WhiteNoise's middleware lists and stats every
    static file of every app when it is made (a server does that once per process): a third of a
    page test's time. The listing is the same for the whole run, so it is made once per settings
    that shape it and each new middleware gets the same files; what it serves is unchanged."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    list_files = WhiteNoiseMiddleware.add_files_from_finders
    listed: dict[tuple, dict] = {}

    def add_files_from_finders(self) -> None:
        key = (
            self.static_prefix,
            self.max_age,
            self.allow_all_origins,
            self.charset,
            self.index_file,
            tuple(settings.INSTALLED_APPS),
            tuple(map(str, getattr(settings, "STATICFILES_DIRS", ()))),
        )
        if key not in listed:
            earlier, self.files = self.files, {}
            list_files(self)
            listed[key], self.files = self.files, earlier
        self.files.update(listed[key])

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders
    yield
    WhiteNoiseMiddleware.add_files_from_finders = list_files


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters live in the process's cache: each test starts with none, whatever ran before."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _housekeeping_due():
    """Workers prune at most once a minute of their process (beian.core.periodic): each test starts
    as a fresh worker would, with every prune due, whatever ran before it."""
    from beian.core import periodic

    periodic.forget_all()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.BEIAN_ARGON2_TIME_COST = 1
    settings.BEIAN_ARGON2_MEMORY_KIB = 64


@pytest.fixture(autouse=True)
def _calendar_read_afresh():
    """The provider keeps the bureau's calendar per process for a minute of real time
    (beian.provider.holidays): each test reads it afresh, so that what one test stored, or when
    another ran, never shows in the next (statement counts included)."""
    from django.apps import apps

    if apps.is_installed("beian.provider"):
        from beian.provider import holidays

        holidays.forget_cache()


# Where every test's manual clock starts: 10:00 on Monday 2026-03-02 in China.
START = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA)


@contextmanager
def simulated(manual: ManualClock) -> Iterator[ManualClock]:
    """`manual` plus the simulation's shared offset, installed, as in a running bureau."""
    from beian.bureau import simulation

    simulation.forget_cache()
    with clock_module.using(OffsetClock(manual, simulation.offset)):
        yield manual
    simulation.forget_cache()


@pytest.fixture
def clock():
    """A manual clock at START, installed for the test."""
    manual = ManualClock(START)
    with clock_module.using(manual):
        yield manual


@pytest.fixture
def sim_clock(clock):
    """The test's manual clock plus the simulation's shared offset, as in a running bureau."""
    with simulated(clock):
        yield clock


@pytest.fixture(params=["faq", "miit2020"])
def rules(request, settings):
    """Both rule sets (DESIGN §3): a scenario that differs between them runs under each, and the
    test says what differs. `rules.filing_password` is the difference most of them meet."""
    from beian.core.catalogue import rule_set

    settings.BEIAN_RULE_SET = request.param
    return rule_set(request.param)


@pytest.fixture
def miit2020(settings):
    """The MIIT's rules since 2020-08-17: no filing password, SMS for transfer-in and cancellations."""
    from beian.core.catalogue import rule_set

    settings.BEIAN_RULE_SET = "miit2020"
    return rule_set("miit2020")
