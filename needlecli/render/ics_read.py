"""Reading back a calendar needle wrote: what it says of its plan's revisions, for `batch` to
rebuild over (a moved folder, a lost record). Apart from the writers (`ics`, `ics_fast`): reading
is icalendar's parser, never needle's own.
"""

from __future__ import annotations

import datetime as dt
import re

import icalendar  # noqa: TID253 - imported only when batch reads a calendar back

from needlecli.identity import UID_DOMAIN

#: What `history_of_calendar` reads back: (plan id, key -> (SEQUENCE, first day, last day) of each live
#: item, the cancelled items as (key, first, last, SEQUENCE), the latest DTSTAMP).
CalendarHistory = tuple[
    str, dict[str, tuple[int, dt.date, dt.date]], list[tuple[str, dt.date, dt.date, int]], dt.datetime
]


def series_of_calendar(data: bytes, zone: dt.tzinfo | None = None) -> tuple[str | None, CalendarHistory | None]:
    """The X-NEEDLE-SERIES a calendar says it belongs to (`identity.series_mark`, None without one) and
    its history (`history_of_calendar`), from one reading."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except Exception:  # not a calendar icalendar can read
        return None, None
    mark = cal.get("X-NEEDLE-SERIES")
    return (str(mark) if mark is not None else None), _history(cal, zone)


def history_of_calendar(data: bytes, zone: dt.tzinfo | None = None) -> CalendarHistory | None:
    """What a calendar needle wrote says about its plan's revisions, read back with icalendar:
    (plan id, key -> (SEQUENCE, first day, last day) of each live item, the cancelled items as
    (key, first, last, SEQUENCE), the latest DTSTAMP). None when it is not one of needle's calendars
    of one plan. `batch` rebuilds over it when its own record of the folder is missing or older
    than the file (a moved folder, a lost record, a run stopped before it recorded the file)."""
    return series_of_calendar(data, zone)[1]


def _history(cal: icalendar.Calendar, zone: dt.tzinfo | None) -> CalendarHistory | None:
    try:
        events = cal.walk("VEVENT")
        plan_ids: set[str] = set()
        live: dict[str, tuple[int, dt.date, dt.date]] = {}
        gone: list[tuple[str, dt.date, dt.date, int]] = []
        stamps: list[dt.datetime] = []
        for ev in events:
            found = re.fullmatch(r"([0-9a-f]{16})-([a-z0-9-]{1,200})@" + re.escape(UID_DOMAIN), str(ev.get("UID", "")))
            if found is None:
                return None
            plan_ids.add(found.group(1))
            key = found.group(2)
            sequence = int(ev.get("SEQUENCE", 0))
            start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
            stamp = ev.decoded("DTSTAMP")
            if isinstance(start, dt.datetime):  # the plan's own day: a time written in UTC read in ``zone``
                local = start.astimezone(zone) if zone is not None and start.tzinfo is not None else start
                first = last = local.date()
            else:
                first, last = start, (end - dt.timedelta(days=1)) if isinstance(end, dt.date) else start
            stamps.append(stamp if isinstance(stamp, dt.datetime) else dt.datetime.combine(stamp, dt.time(), dt.UTC))
            if str(ev.get("STATUS", "")).upper() == "CANCELLED":
                gone.append((key, first, last, sequence))
            else:
                live[key] = (sequence, first, last)
    except Exception:  # not a calendar icalendar can read, or not one of ours: no history
        return None
    if len(plan_ids) != 1 or not stamps:
        return None
    return plan_ids.pop(), live, gone, max(stamps)
