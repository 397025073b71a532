"""`needle due` as documents: the front desk's table (80 columns), CSV, JSON, the clinic's calendar
of those items (the patients' calendar ids), and a printable day list (HTML, a clinician document:
patient ids, times, sessions, checks needed; escaped, no scripts)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from needlecli.identity import UID_DOMAIN

if TYPE_CHECKING:
    from needlecli.register.diary import Due

FIELDS = ("patient", "indication", "what", "number", "of", "date", "start", "status", "check")


#: The patients' names (`--include-name`): None when not asked for; a patient never named is left out.
Names = Mapping[str, str] | None


def as_dicts(items: Sequence[Due], names: Names = None) -> list[dict[str, Any]]:
    rows = [{f: getattr(i, f) for f in FIELDS} for i in items]
    if names is not None:
        for row in rows:
            row["name"] = names.get(row["patient"])
    return rows


def item_text(i: Due) -> str:
    """``session 2/3``, ``booster 1/2``, ``review``."""
    return f"{i.what} {i.number}/{i.of}" if i.number is not None else i.what


def _time(i: Due) -> str:
    return dt.datetime.fromisoformat(i.start).strftime("%H:%M") if i.start else ""


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(items: Sequence[Due], on: dt.date, days: int, names: Names = None) -> str:
    last = on + dt.timedelta(days=days - 1)
    head = f"Due {on:%a} {on.day} {on:%b %Y} – {last:%a} {last.day} {last:%b %Y}, and anything overdue"
    if not items:
        return head + ": nothing.\n"
    if names is not None:  # a name column: the others narrower, still 80 columns
        columns = f"{'DATE':<10} {'TIME':<5} {'PATIENT':<10} {'NAME':<14} {'SERIES':<10} {'ITEM':<11} CHECK  STATUS"
        lines = [head, columns]
        for i in items:
            lines.append(
                f"{i.date:<10} {_time(i):<5} {_cut(i.patient, 10):<10} {_cut(names.get(i.patient, ''), 14):<14} "
                f"{_cut(i.indication, 10):<10} {_cut(item_text(i), 11):<11} {i.check or '':<6} {i.status}"
            )
        return "\n".join(lines) + "\n"
    lines = [head, f"{'DATE':<10}  {'TIME':<5}  {'PATIENT':<16}  {'SERIES':<11}  {'ITEM':<12}  {'CHECK':<7}  STATUS"]
    for i in items:
        lines.append(
            f"{i.date:<10}  {_time(i):<5}  {_cut(i.patient, 16):<16}  {_cut(i.indication, 11):<11}  "
            f"{_cut(item_text(i), 12):<12}  {i.check or '':<7}  {i.status}"
        )
    return "\n".join(lines) + "\n"


def as_json(items: Sequence[Due], names: Names = None) -> str:
    return json.dumps(as_dicts(items, names), indent=2, ensure_ascii=False) + "\n"


def as_csv(items: Sequence[Due], names: Names = None) -> str:
    from needlecli.documents import as_text_cell

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS + (("name",) if names is not None else ()))
    for row in as_dicts(items, names):
        writer.writerow([as_text_cell(v) if isinstance(v, str) else ("" if v is None else v) for v in row.values()])
    return out.getvalue()


def as_ics(items: Sequence[Due], stamp: dt.datetime, clinic_name: str | None, names: Names = None) -> bytes:
    """The clinic's calendar of the items: each with the calendar id the patient's file gives it."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", "-//needle//due//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{clinic_name} — due" if clinic_name else "Microneedling — due")
    for i in items:
        event = icalendar.Event()
        event.add("uid", f"{i.plan_id}-{i.key}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        named = names.get(i.patient) if names is not None else None
        summary = f"{i.patient}{f' {named}' if named else ''}: {item_text(i)} ({i.indication})"
        if i.check == "needed":
            summary += " — check needed"
        event.add("summary", summary)
        event.add("sequence", i.revision)  # as in the patient's file: the newer copy wins, never the older
        if i.start:
            event.add("dtstart", dt.datetime.fromisoformat(i.start).astimezone(dt.UTC))
            if i.end:
                event.add("dtend", dt.datetime.fromisoformat(i.end).astimezone(dt.UTC))
        else:
            day = dt.date.fromisoformat(i.date)
            event.add("dtstart", day)
            event.add("dtend", day + dt.timedelta(days=1))
        event.add("status", "CONFIRMED")
        event.add("class", "CONFIDENTIAL")
        cal.add_component(event)
    return bytes(cal.to_ical())


def as_html(items: Sequence[Due], on: dt.date, days: int, clinic_name: str | None, names: Names = None) -> str:
    from needlecli.render.html import _environment

    groups: dict[str, list[dict[str, Any]]] = {}
    for i in items:
        label = "Overdue" if i.status == "overdue" else _day(i.date)
        groups.setdefault(label, []).append(
            {
                "time": _time(i),
                "patient": i.patient,
                "name": names.get(i.patient, "") if names is not None else "",
                "series": i.indication,
                "item": item_text(i),
                "check": i.check or "",
                "date": i.date,
            }
        )
    last = on + dt.timedelta(days=days - 1)
    return (
        _environment()
        .get_template("due.html")
        .render(
            title=f"Due {_day(on.isoformat())} – {_day(last.isoformat())}, and anything overdue",
            clinic=clinic_name or "",
            groups=list(groups.items()),
            count=len(items),
            checks=sum(1 for i in items if i.check == "needed"),
            named=names is not None,
        )
    )


def _day(iso: str) -> str:
    d = dt.date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b %Y}"
