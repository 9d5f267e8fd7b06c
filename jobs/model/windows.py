"""Time windows of metrics, relative to the as-of date D (inclusive):

all            every event up to D
last_90d       the 90 days ending on D
last_6m        the 6 complete calendar months before D's month
this_month     D's month up to D
..._first_14d  suffix: only days 1-14 of each month (e.g. last_6m_first_14d)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column
from pyspark.sql import functions as F

PATTERN = re.compile(r"^(all|this_month|last_(\d+)d|last_(\d+)m)(?:_first_(\d+)d)?$")


@dataclass(frozen=True)
class Window:
    name: str
    kind: str  # all | days | months | this_month
    n: int = 0
    first_days: int | None = None

    def contains(self, day: Column, as_of: date) -> Column:
        """True for an event on `day` (a date column) inside this window as of `as_of`."""
        end = F.lit(as_of)
        month = F.trunc(end, "month")
        if self.kind == "days":
            inside = (day > F.date_sub(end, self.n)) & (day <= end)
        elif self.kind == "months":
            inside = (day >= F.add_months(month, -self.n)) & (day < month)
        elif self.kind == "this_month":
            inside = (day >= month) & (day <= end)
        else:
            inside = day <= end
        if self.first_days is not None:
            inside = inside & (F.dayofmonth(day) <= self.first_days)
        return inside


def parse_window(text: str) -> Window:
    match = PATTERN.match(str(text))
    if not match:
        raise ValueError(
            f"unknown window {text!r}: all, last_<N>d, last_<N>m or this_month, "
            "optionally + _first_<K>d"
        )
    whole, days, months, first = match.groups()
    first_days = int(first) if first else None
    if first_days is not None and not 1 <= first_days <= 31:
        raise ValueError(f"window {text!r}: the first days of a month are 1 to 31")
    if days:
        return Window(text, "days", int(days), first_days)
    if months:
        return Window(text, "months", int(months), first_days)
    return Window(text, whole, 0, first_days)
