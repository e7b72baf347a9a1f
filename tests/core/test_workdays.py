"""The working-day calendar (DESIGN §3, §8; R6): statutory holidays and 调休 from chinese_calendar,
weekends only (with a warning, marked provisional) for a year it has not published."""

import logging
import pickle
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beian.core import workdays
from beian.core.workdays import Window, add, between, is_published, is_working_day, window

UNPUBLISHED = 2027  # chinese_calendar 1.11.0 (the pinned version) knows 2004–2026


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which years were already warned about, so this test sees the first warning."""
    monkeypatch.setattr(workdays, "_warned", set())


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "beian.core.workdays"]


# ---------------------------------------------------------------- published or not


def test_a_year_with_data_is_published():
    assert is_published(2026)
    assert is_published(2025)


def test_a_year_without_data_is_reported_unpublished_instead_of_raising():
    assert not is_published(UNPUBLISHED)


# ---------------------------------------------------------------- Spring Festival 2026


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 2, 28)])
def test_spring_festival_2026_adjusted_saturdays_are_working_days(day):
    assert day.weekday() == 5
    assert is_working_day(day)


SPRING_FESTIVAL_2026_HOLIDAY_WEEKDAYS = [date(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)]


@pytest.mark.parametrize("day", SPRING_FESTIVAL_2026_HOLIDAY_WEEKDAYS)
def test_spring_festival_2026_holiday_weekdays_are_not_working_days(day):
    assert day.weekday() < 5
    assert not is_working_day(day)


def test_spring_festival_2026_holiday_runs_from_15_to_23_february():
    assert is_working_day(date(2026, 2, 13))
    assert [d.day for d in _days(date(2026, 2, 14), date(2026, 2, 24)) if not is_working_day(d)] == list(range(15, 24))
    assert is_working_day(date(2026, 2, 24))


def test_adding_working_days_across_spring_festival_2026_skips_the_holiday_and_counts_the_adjusted_saturday():
    assert add(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Saturday, adjusted working day
    assert add(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert between(date(2026, 2, 13), date(2026, 2, 24)) == 2


# ---------------------------------------------------------------- National Day 2026


@pytest.mark.parametrize("day", [date(2026, 9, 20), date(2026, 10, 10)])
def test_national_day_2026_adjusted_weekend_days_are_working_days(day):
    assert day.weekday() >= 5
    assert is_working_day(day)


def test_national_day_2026_holiday_covers_1_to_7_october_including_weekdays():
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert date(2026, 10, 5).weekday() == 0  # a Monday that is not worked
    assert is_working_day(date(2026, 9, 30))
    assert is_working_day(date(2026, 10, 8))


def test_mid_autumn_friday_before_national_day_2026_is_a_holiday():
    assert date(2026, 9, 25).weekday() == 4
    assert not is_working_day(date(2026, 9, 25))


def test_adding_working_days_across_national_day_2026():
    assert add(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add(date(2026, 9, 30), 3) == date(2026, 10, 10)  # Saturday, adjusted working day
    assert add(date(2026, 9, 30), 4) == date(2026, 10, 12)  # Sunday 11 is not worked
    assert between(date(2026, 9, 30), date(2026, 10, 11)) == 3


# ---------------------------------------------------------------- add and between


def test_adding_zero_working_days_returns_the_same_day_even_on_a_holiday():
    assert add(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_adding_negative_working_days_is_refused():
    with pytest.raises(ValueError, match="negative"):
        add(date(2026, 3, 2), -1)


def test_the_start_day_is_not_counted():
    monday = date(2026, 3, 2)
    assert add(monday, 1) == date(2026, 3, 3)
    assert add(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Friday → Monday
    assert between(monday, monday) == 0


def test_between_is_zero_when_end_is_not_after_start():
    assert between(date(2026, 3, 9), date(2026, 3, 2)) == 0


def test_between_counts_the_half_open_interval_excluding_start_including_end():
    assert between(date(2026, 3, 2), date(2026, 3, 9)) == 5  # Tue..Fri + Mon


@given(
    d=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
    n=st.integers(min_value=0, max_value=60),
)
def test_between_undoes_add(d, n):
    end = add(d, n)
    assert between(d, end) == n
    if n:
        # `add` lands on the first day that reaches n: a working day, one past n-1.
        assert is_working_day(end)
        assert between(d, end - timedelta(days=1)) == n - 1


# ---------------------------------------------------------------- windows


def test_window_gives_earliest_and_latest_decision_dates():
    start = date(2026, 3, 2)
    assert window(start, 3, 20) == Window(
        start=start, earliest=date(2026, 3, 5), latest=date(2026, 3, 30), provisional=False
    )


def test_window_opened_before_national_day_2026_ends_later_by_the_holiday():
    w = window(date(2026, 9, 21), 1, 20)
    assert w.latest == date(2026, 10, 26)
    assert not w.provisional


def test_window_refuses_min_days_above_max_days_or_negative():
    with pytest.raises(ValueError, match="min_days <= max_days"):
        window(date(2026, 3, 2), 5, 3)
    with pytest.raises(ValueError, match="0 <= min_days"):
        window(date(2026, 3, 2), -1, 3)


def test_an_empty_window_on_the_last_published_day_is_not_provisional():
    w = window(date(2026, 12, 31), 0, 0)
    assert w.latest == w.earliest == date(2026, 12, 31)
    assert not w.provisional


@pytest.mark.usefixtures("fresh_warnings")
def test_window_crossing_into_an_unpublished_year_counts_weekends_only_and_is_provisional(caplog):
    caplog.set_level(logging.WARNING, logger="beian.core.workdays")
    w = window(date(2026, 12, 15), 1, 20)
    # 16–31 December 2026 hold 12 working days; 2027 then counts Monday–Friday only, so New Year's
    # Day (a Friday, a holiday once published) is provisionally a working day.
    assert w.earliest == date(2026, 12, 16)
    assert w.latest == date(2027, 1, 12)
    assert w.provisional
    assert is_working_day(date(2027, 1, 1))
    assert not is_working_day(date(2027, 1, 2))
    assert not is_working_day(date(2027, 1, 3))
    assert between(date(2026, 12, 31), date(2027, 1, 12)) == 8


@pytest.mark.usefixtures("fresh_warnings")
def test_unpublished_year_is_warned_about_once(caplog):
    caplog.set_level(logging.WARNING, logger="beian.core.workdays")
    window(date(2026, 12, 15), 1, 20)
    window(date(2026, 12, 20), 3, 20)
    add(date(2027, 6, 1), 30)
    assert _warnings(caplog) == ["calendar not yet published for 2027; counting weekends only"]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "beian.core.workdays")


@pytest.mark.usefixtures("fresh_warnings")
def test_published_year_logs_no_warning(caplog):
    caplog.set_level(logging.WARNING, logger="beian.core.workdays")
    window(date(2026, 1, 5), 3, 20)
    assert _warnings(caplog) == []


def test_window_ending_exactly_on_the_last_published_day_is_not_provisional():
    w = window(date(2026, 12, 30), 1, 1)
    assert w.latest == date(2026, 12, 31)
    assert not w.provisional


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


# ---------------------------------------------------------------- a calendar handed its data


def test_a_calendar_counts_in_the_arrangement_it_is_handed_and_keeps_no_other():
    spring_2027 = workdays.Arrangement(
        2027, holidays=frozenset(date(2027, 2, d) for d in range(5, 14)), workdays=frozenset({date(2027, 2, 20)})
    )
    handed = workdays.Calendar([spring_2027])
    assert handed.is_published(2027)
    assert not handed.is_published(2026)
    assert not handed.is_working_day(date(2027, 2, 8))
    assert handed.is_working_day(date(2027, 2, 20))
    assert handed.window(date(2027, 2, 1), 3, 20).latest == date(2027, 3, 8)
    assert not workdays.BUILTIN.is_published(2027)  # the built-in calendar is not touched


def test_an_arrangement_refuses_a_day_of_another_year_or_a_day_both_off_and_worked():
    with pytest.raises(ValueError, match="another year"):
        workdays.Arrangement(2027, holidays=frozenset({date(2026, 12, 31)}))
    with pytest.raises(ValueError, match="both"):
        workdays.Arrangement(2027, holidays=frozenset({date(2027, 2, 20)}), workdays=frozenset({date(2027, 2, 20)}))


def test_a_calendar_crosses_to_another_process_whole():
    """`load_national` hands the bureau's calendar to its worker processes, by pickle."""
    named = workdays.Arrangement(2027, holidays=frozenset({date(2027, 2, 8)}), names={date(2027, 2, 8): "春节"})
    handed = workdays.Calendar([*workdays.BUILTIN.arrangements.values(), named])
    again = pickle.loads(pickle.dumps(handed))
    assert again == handed
    assert again.arrangements[2027].names[date(2027, 2, 8)] == "春节"
    assert not again.is_working_day(date(2027, 2, 8))
