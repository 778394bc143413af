"""Period parsing: labels, dates, central dates and half windows."""

from __future__ import annotations

from datetime import date

import pytest

from engine.errors import InvalidParameter
from engine.period import MONTH_HALF_WINDOW_DAYS, PERIOD_MARGIN_DAYS, parse_period


def test_a_month_is_centred_on_the_15th_with_the_theia_window() -> None:
    period = parse_period("2024-02")
    assert (period.label, period.start, period.end) == ("2024-02", date(2024, 2, 1),
                                                        date(2024, 2, 29))
    assert (period.central, period.half_window_days) == (date(2024, 2, 15),
                                                         MONTH_HALF_WINDOW_DAYS)


def test_a_quarter_is_labelled_in_capitals() -> None:
    period = parse_period("2024-q3")
    assert (period.label, period.start, period.end) == ("2024-Q3", date(2024, 7, 1),
                                                        date(2024, 9, 30))
    # 92 days: central on day 46, half window 46 days plus the margin.
    assert (period.central, period.half_window_days) == (date(2024, 8, 15),
                                                         46 + PERIOD_MARGIN_DAYS)


def test_custom_dates_get_one_spelling() -> None:
    basic, extended = parse_period("20240701/20240710"), parse_period("2024-07-01/2024-07-10")
    assert basic == extended
    assert basic.label == "2024-07-01/2024-07-10"


def test_inverted_dates_are_refused() -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_period("2024-07-10/2024-07-01")
    assert info.value.field == "period"


def test_a_custom_period_is_at_most_a_leap_year() -> None:
    assert parse_period("2024-01-01/2024-12-31").half_window_days == 183 + PERIOD_MARGIN_DAYS
    with pytest.raises(InvalidParameter) as info:
        parse_period("2024-01-01/2025-01-01")  # 367 days
    assert info.value.field == "period" and "367 days" in info.value.message


@pytest.mark.parametrize("text", ["0001-01", "9999-12", "0001", "9999-Q4",
                                  "0001-01-01/0001-01-31", "9999-12-01/9999-12-31"])
def test_a_window_outside_the_calendar_is_refused(text: str) -> None:
    # The window reaches days before 0001-01-01 or after 9999-12-31: refused as an input
    # error, not an OverflowError from inside the engine.
    with pytest.raises(InvalidParameter) as info:
        parse_period(text)
    assert info.value.field == "period" and text in info.value.message
    assert "calendar" in info.value.message or "out of range" in info.value.message


def test_the_longest_span_of_history_is_refused_by_its_length() -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_period("0001-01-01/9999-12-31")
    assert info.value.field == "period" and "at most 366 days" in info.value.message
