"""The clinic's own calendar (`batch --clinic-calendar FILE.ics`): every planned session of a run.

A clinician document: each session is titled with the patient id (never the name, the indication
or a finding), carries the same UID, SEQUENCE and DTSTAMP as the session in the patient's own
file, so rebuilding the list updates the clinic's calendar as it updates the patients'. Times are
exact UTC instants (a clinic calendar mixes zones and years; UTC reads right in every client), no
alarms (the clinic does not want one per appointment).

Batch workers render each patient's events (`events`); the parent writes them between the
calendar's own head and tail (`frame`), streaming, so a list of any length takes flat memory.
Every byte comes from icalendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import icalendar  # noqa: TID253 - imported only by `batch --clinic-calendar`

from needlecli import zones
from needlecli.identity import UID_DOMAIN, appointment_of
from needlecli.render.ics import PRODID
from needlecli.revisions import History

#: key -> (start, end) of each timed appointment, as aware datetimes.
Times = Mapping[str, tuple[dt.datetime, dt.datetime]]


def appointments(history: History) -> list[tuple[str, str, int]]:
    """(key, kind, number) of every session and booster in the history, sessions first, by number."""
    found = [(key, *kind) for key in history.items if (kind := appointment_of(key)) is not None]
    return sorted(found, key=lambda a: (a[1] != "session", a[2]))


def events(patient: str, history: History, times: Times, *, address: str | None = None) -> bytes:
    """The VEVENTs of one patient's sessions and boosters, and of those cancelled (a withdrawn plan,
    see `History.withdrawn`, has only cancelled ones): a re-import removes them."""
    stamp = history.stamp or dt.datetime.combine(history.created_on, dt.time(), tzinfo=dt.UTC)
    found = appointments(history)
    count = sum(1 for _, kind, _ in found if kind == "session")
    out = []
    for key, kind, number in found:
        revision, first, _last = history.items[key]
        label = f"session {number} of {count}" if kind == "session" else f"booster {number}"
        ev = _event(history.plan_id, key, revision, f"{patient} · microneedling {label}", stamp)
        if key in times:
            start, end = times[key]
            ev.add("dtstart", start.astimezone(dt.UTC))
            ev.add("dtend", end.astimezone(dt.UTC))
        else:
            ev.add("dtstart", first)
            ev.add("dtend", first + dt.timedelta(days=1))
        ev.add("status", "CONFIRMED")
        if address:
            ev.add("location", address)
        out.append(ev.to_ical())
    for c in history.cancelled:
        if appointment_of(c.key) is not None:
            ev = _event(history.plan_id, c.key, c.revision, f"{patient} · cancelled", stamp)
            ev.add("dtstart", c.first_day)
            ev.add("dtend", c.last_day + dt.timedelta(days=1))
            ev.add("status", "CANCELLED")
            ev.add("transp", "TRANSPARENT")
            out.append(ev.to_ical())
    return b"".join(out)


def _event(plan_id: str, key: str, revision: int, summary: str, stamp: dt.datetime) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", f"{plan_id}-{key}@{UID_DOMAIN}")  # as in the patient's own file
    ev.add("dtstamp", stamp)
    ev.add("sequence", revision)
    ev.add("summary", summary)
    return ev


def frame(clinic_name: str | None) -> tuple[bytes, bytes]:
    """The calendar's head and tail, for events to be written between them."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", icalendar.vText("Microneedling sessions" + (f" — {clinic_name}" if clinic_name else "")))
    cal.add("x-needle-tzdata", zones.database().version)  # the zone data the UTC instants were computed with
    whole: bytes = cal.to_ical()
    tail = b"END:VCALENDAR\r\n"
    assert whole.endswith(tail)
    return whole[: -len(tail)], tail
