"""Formatting shared by the renderers."""

from __future__ import annotations

import datetime as dt

from needlecli.model import DepthZone


def day_text(d: dt.date, year: bool = True) -> str:
    """`Tue 1 Dec 2026` (or `Tue 1 Dec`)."""
    return f"{d:%a} {d.day} {d:%b}" + (f" {d.year}" if year else "")


def span_text(first: dt.date, last: dt.date) -> str:
    if first == last:
        return day_text(first, year=False)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%a} {first.day} – {day_text(last, year=False)}"
    return f"{day_text(first, year=False)} – {day_text(last, year=False)}"


def time_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{start:%H:%M}–{end:%H:%M} {start.tzname()}"


def depth_text(lo: float, hi: float) -> str:
    return f"{lo:g} mm" if lo == hi else f"{lo:g}–{hi:g} mm"


def depth_why(zone: DepthZone) -> str:
    """Why a zone's range differs from the protocol's, and the zone's own note (clinician documents)."""
    causes = [r for r in zone.reasons if r != "device maximum"]
    parts = [f"one step shallower ({', '.join(causes)})"] if causes else []
    if "device maximum" in zone.reasons:
        parts.append("capped at the device maximum")
    if zone.note:
        parts.append(zone.note)
    return "; ".join(parts)
