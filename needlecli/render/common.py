"""Formatting shared by the renderers."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from needlecli.model import Appointment, DepthZone, Finding, Plan


def day_text(d: dt.date, year: bool = True) -> str:
    """`Tue 1 Dec 2026` (or `Tue 1 Dec`)."""
    return f"{d:%a} {d.day} {d:%b}" + (f" {d.year}" if year else "")


def span_text(first: dt.date, last: dt.date) -> str:
    if first == last:
        return day_text(first, year=False)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%a} {first.day} – {day_text(last, year=False)}"
    if first.year != last.year and (last - first).days > 62:  # months long across New Year: which year is which
        return f"{day_text(first)} – {day_text(last)}"
    return f"{day_text(first, year=False)} – {day_text(last, year=False)}"


def time_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{start:%H:%M}–{end:%H:%M} {start.tzname()}"


def depth_text(lo: float, hi: float) -> str:
    return f"{lo:g} mm" if lo == hi else f"{lo:g}–{hi:g} mm"


def depth_why(zone: DepthZone) -> str:
    """Why a zone's range differs from the protocol's, and the zone's own note (clinician documents)."""
    parts = [f"one step shallower ({', '.join(zone.causes)})"] if zone.causes else []
    if zone.capped:
        parts.append("capped at the device maximum")
    if zone.note:
        parts.append(zone.note)
    return "; ".join(parts)


def table_specs(plan: Plan) -> list[tuple[str, str]]:
    """(spec, title) of the windows a session table shows a column for: every window around the
    first session but the procedure pauses (weeks or months long; listed under the table)."""
    if not plan.sessions:
        return []
    return [(w.spec, w.title) for w in plan.sessions[0].windows if not w.procedure]


def verdict_line(plan: Plan) -> str:
    """The screening a plan was made under, in one line (clinician documents)."""
    basis = plan.request.screening
    if basis is None:
        return "Not screened: no screening record was given."
    return (
        f"Verdict {basis.verdict} (screened {basis.evaluated_on.isoformat()}, "
        f"{basis.protocol.name} {basis.protocol.version})"
    )


def finding_rows(findings: tuple[Finding, ...]) -> list[list[str]]:
    """Every finding of the screening: id, category, until, the clinician's message."""
    return [[f.id, f.category, f.until.isoformat() if f.until else "", f.message] for f in findings]


def flags_text(a: Appointment) -> str:
    """The dated cautions still in force on an appointment's day (their finding ids)."""
    return ", ".join(a.flags)


def aftercare_text(a: Appointment) -> str:
    return "deeper pass" if a.deep else "standard"


class Template(NamedTuple):
    """A file cut at its plan id: ``with_plan_id`` is the same file for another plan id (batch's
    series shared by many patients). One part when the file holds no plan id."""

    parts: tuple[bytes, ...]

    def with_plan_id(self, plan_id: str) -> bytes:
        return plan_id.encode("ascii").join(self.parts)

    @property
    def size(self) -> int:
        return sum(map(len, self.parts))
