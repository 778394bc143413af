"""Periods of a mosaic: a month, a quarter, a year, or custom dates.

The central date is what a synthesis estimates the surface at; the half window is how far from
it observations are read (WASP reads +-23 days around the 15th of a month).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from engine.errors import InvalidParameter

#: Half window of a monthly product, as Theia's L3A (46-day window centred on the 15th).
MONTH_HALF_WINDOW_DAYS = 23
#: Days read beyond each end of a longer period, so that its edges are no worse than a month's
#: (23 days around a centre on the 15th reaches 8 days past the month).
PERIOD_MARGIN_DAYS = 8
#: Longest custom period, in days: a year (a leap one). Longer orders are several products;
#: one period of centuries would plan a search and a stack no worker can hold.
MAX_PERIOD_DAYS = 366

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    """A mosaic period: inclusive first and last days, central date and half window."""

    label: str
    start: date
    end: date
    central: date
    half_window_days: int

    @property
    def window_start(self) -> date:
        """First day an observation may come from."""
        return self.central - timedelta(days=self.half_window_days)

    @property
    def window_end(self) -> date:
        """Last day an observation may come from."""
        return self.central + timedelta(days=self.half_window_days)

    def search_interval(self) -> tuple[datetime, datetime]:
        """The window as UTC datetimes, end inclusive to the last microsecond of its day."""
        start = datetime.combine(self.window_start, time.min, tzinfo=UTC)
        end = datetime.combine(self.window_end, time.max, tzinfo=UTC)
        return start, end

    def days_from_central(self, when: datetime | date) -> float:
        """Signed distance in days of an acquisition from the central date (noon)."""
        central = datetime.combine(self.central, time(12), tzinfo=UTC)
        if not isinstance(when, datetime):
            when = datetime.combine(when, time(12), tzinfo=UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - central).total_seconds() / 86400.0


def _month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _spanning(label: str, start: date, end: date) -> Period:
    if end < start:
        raise InvalidParameter("period", f"{label!r} ends before it starts")
    length = (end - start).days + 1
    if length > MAX_PERIOD_DAYS:
        raise InvalidParameter(
            "period", f"{label!r} spans {length} days; a period is at most {MAX_PERIOD_DAYS} "
            "days (order longer spans as several periods)")
    central = start + timedelta(days=(length - 1) // 2)
    half = (length + 1) // 2 + PERIOD_MARGIN_DAYS
    return _checked(Period(label, start, end, central, half))


def _checked(period: Period) -> Period:
    """The period, if its window is made of representable dates (not year 1 or 9999)."""
    try:
        period.search_interval()
    except OverflowError:
        raise InvalidParameter(
            "period", f"{period.label!r}: its window of observations runs outside the "
            f"calendar ({date.min.isoformat()} to {date.max.isoformat()})") from None
    return period


def parse_period(text: str) -> Period:
    """Parse ``YYYY-MM``, ``YYYY-Qn``, ``YYYY`` or ``START/END`` (ISO dates).

    Raises:
        InvalidParameter: when the text is none of these forms or the dates are inverted.

    """
    text = text.strip()
    try:
        if m := _MONTH.match(text):
            year, month = int(m[1]), int(m[2])
            start, end = date(year, month, 1), _month_end(year, month)
            return _checked(
                Period(text, start, end, date(year, month, 15), MONTH_HALF_WINDOW_DAYS))
        if m := _QUARTER.match(text):
            year, quarter = int(m[1]), int(m[2])
            first_month = 3 * (quarter - 1) + 1
            return _spanning(
                text.upper(), date(year, first_month, 1), _month_end(year, first_month + 2)
            )
        if m := _YEAR.match(text):
            year = int(m[1])
            return _spanning(text, date(year, 1, 1), date(year, 12, 31))
        if "/" in text:
            first, last = text.split("/", 1)
            start, end = date.fromisoformat(first), date.fromisoformat(last)
            # Labelled in one spelling (ISO 8601 accepts 20240701 too): equal dates, equal label.
            return _spanning(f"{start.isoformat()}/{end.isoformat()}", start, end)
    except ValueError as exc:
        raise InvalidParameter("period", f"{text!r}: {exc}") from exc
    raise InvalidParameter(
        "period", f"{text!r} is not YYYY-MM, YYYY-Qn, YYYY or START/END (ISO dates)"
    )
