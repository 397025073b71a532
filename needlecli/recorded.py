"""What happened to a booked series, as values: sessions done, bookings missed, a stop (the
register records them; `course` computes with them; a plan's request carries them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    """A session (``2``) or booster (``B1``) recorded as done: its real date and the depth used."""

    label: str
    day: dt.date
    #: (zone, mm) for each zone treated.
    depth_mm: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Course:
    """What happened to a booked series: sessions done, bookings missed, gaps allowed, a stop."""

    done: tuple[Done, ...] = ()
    #: (label, occurrence): the booking of that session after ``occurrence - 1`` missed ones (a new
    #: calendar id each time: a missed occurrence is never reused or moved).
    occurrences: tuple[tuple[str, int], ...] = ()
    #: Sessions whose gap from the one before may exceed the maximum spacing (after a missed session or
    #: a re-check deferral: the series resumes, it does not restart); the minimum still holds.
    resumed: tuple[str, ...] = ()
    #: ``""`` (active), ``on-hold`` (an undated deferral) or ``stopped`` (a contraindication, or
    #: cancelled): every session not done is cancelled.
    halted: str = ""
    #: Why it was halted (the finding ids, or the cancellation's reason), for the clinician documents.
    reason: str = ""

    def done_on(self, label: str) -> Done | None:
        return next((d for d in self.done if d.label == label), None)

    def occurrence(self, label: str) -> int:
        return dict(self.occurrences).get(label, 1)
