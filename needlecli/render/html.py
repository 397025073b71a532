"""The printable patient handout (`--format html`): one self-contained page, rendered with Jinja2.

A patient document: the clinic's name, phone and address, the patient's name only when
asked for, a month-grid calendar of the series, what to do before and after each session
day by day, the warning signs and the appointments. Never an indication, a finding, a
medicine from the screening, a depth or a patient id.

Self-contained and print-ready: inline CSS (no scripts, fonts, images or links fetched
from anywhere), ``@page`` margins for A4 and Letter, blocks that do not break across
pages. Every value goes through the template engine's autoescaping. This module is the
only one that imports jinja2, and it is imported only when the html format is used.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import functools
import itertools
from dataclasses import dataclass, field

import jinja2  # noqa: TID253 - this module is imported only by commands that write HTML

from needlecli.aftercare import (
    Before,
    BeforeLine,
    DayGroup,
    SessionChecklist,
    before_session,
    days_before,
    handout,
    warning_signs,
)
from needlecli.model import ExportOptions, Plan, TreatmentProtocol
from needlecli.render.common import day_text, span_text, time_text

#: The kinds of day the calendar tells apart, strongest first: a day shows the first kind it has
#: as its pattern, and every kind it has as a letter (or the session symbol).
KINDS: tuple[str, ...] = ("session", "aftercare", "pause", "medicine")
#: One mark per kind of day. Never two letters that read as a time of day beside a session's
#: "10:30-11:30" (pause + medicine once read "PM", aftercare + medicine "AM"): the medicine is a cross.
SYMBOLS: dict[str, str] = {"session": "●", "aftercare": "A", "pause": "P", "medicine": "+"}
#: A calendar of more months than these prints a size smaller, with more months a row (`Page.size`):
#: the handout stays on two sheets, on A4 and on Letter (tests/test_handout.py prints it in Chromium).
COMPACT_MONTHS = 4
LONG_MONTHS = 8
LEGEND: dict[str, str] = {
    "session": "Session day",
    "aftercare": "Aftercare days",
    "pause": "Pause days (before a session)",
    "medicine": "Prescribed medicine days",
}


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("needlecli.render", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def export(plan: Plan, options: ExportOptions) -> bytes:
    """The handout for a plan (document "plan") or its aftercare (document "aftercare"): the same page."""
    protocol = options.protocol
    if protocol is None:  # `plan --format html`, `batch`: the protocol the plan was made with
        from needlecli import catalog

        protocol = catalog.load_treatment(catalog.ref_of(plan.protocol.origin))
    page = handout_page(plan, protocol, options)
    return _environment().get_template("handout.html").render(page=page).encode("utf-8")


# ----------------------------------------------------------------- what the template shows


@dataclass(frozen=True)
class Cell:
    day: int  # 0: a day of the neighbouring month (left blank)
    kinds: tuple[str, ...] = ()
    title: str = ""

    @property
    def css(self) -> str:
        return " ".join(f"k-{k}" for k in self.kinds)

    @property
    def marks(self) -> str:
        """The symbol of each kind; a session day (always the first aftercare day) shows the session's."""
        shown = [k for k in self.kinds if "session" not in self.kinds or k in ("session", "medicine")]
        return "".join(SYMBOLS[k] for k in shown)


@dataclass(frozen=True)
class Month:
    year: int
    month: int
    weeks: tuple[tuple[Cell, ...], ...]

    @property
    def title(self) -> str:
        return f"{dt.date(self.year, self.month, 1):%B %Y}"


@dataclass(frozen=True)
class AppointmentRow:
    label: str
    date: str
    time: str


@dataclass(frozen=True)
class PauseRow:
    """When one appointment's windows before it run: a span per column (or how many days, undated)."""

    label: str
    spans: tuple[str, ...]


@dataclass(frozen=True)
class PauseBox:
    kind: str  # pause | medicine | procedures
    title: str
    items: tuple[str, ...]

    @property
    def symbol(self) -> str:
        """The box's mark: the calendar's for its kind of day (procedures are pauses)."""
        return SYMBOLS.get(self.kind, SYMBOLS["pause"])


@dataclass(frozen=True)
class Group:
    heading: str
    when: str  # the dates, when the block is for one session
    facts: tuple[str, ...]
    do: tuple[str, ...]
    avoid: tuple[str, ...]


@dataclass(frozen=True)
class AfterBlock:
    """Day groups shared by one or more sessions (same words, different dates)."""

    title: str
    headings: tuple[str, ...]
    #: (label, dates per group) for each session, when the block covers more than one.
    dates: tuple[tuple[str, tuple[str, ...]], ...]
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Page:
    title: str
    clinic_name: str | None
    clinic_phone: str | None
    clinic_address: str | None
    patient_name: str | None
    daily: str
    arrive: str
    appointments: tuple[AppointmentRow, ...]
    months: tuple[Month, ...]
    legend: tuple[tuple[str, str, str], ...]  # (kind, symbol, words)
    pause_columns: tuple[str, ...]
    pause_rows: tuple[PauseRow, ...]
    pause_boxes: tuple[PauseBox, ...]
    #: The pauses after earlier procedures (weeks or months long), in one line under the table.
    procedures: PauseBox | None
    after: tuple[AfterBlock, ...]
    warning_signs: tuple[str, ...]
    weekdays: tuple[str, ...] = field(default=("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"))

    @property
    def left_out(self) -> tuple[str, ...]:
        """The months the calendar leaves out between the ones it shows (`_left_out`)."""
        return _left_out(self.months)

    @property
    def size(self) -> str:
        """How the page prints (the class of its ``html``): a calendar of more than four months (boosters
        months later) a size smaller with four months a row ("compact"), of more than eight five a row
        ("compact long"); else as it is (""). Otherwise a third page held only the end of the aftercare."""
        if len(self.months) > LONG_MONTHS:
            return "compact long"
        return "compact" if len(self.months) > COMPACT_MONTHS else ""


def handout_page(plan: Plan, protocol: TreatmentProtocol, options: ExportOptions) -> Page:
    sheet = handout(protocol, plan, options.series)
    appointments = tuple(
        AppointmentRow(
            f"{a.kind.capitalize()} {a.number}" if options.series else "Your session",
            day_text(a.date),
            time_text(a.start, a.end),
        )
        for a in plan.appointments
    )
    # A plan's handout starts with the pause before session 1; one session's, with the pause before it
    # (dated, as its calendar marks it), then the next session's (undated: not planned yet).
    first = sheet.before_first if options.series else before_session(protocol, plan, "your session")
    befores = ([first] if first is not None else []) + [c.next_pause for c in sheet.sessions]
    columns, rows, boxes = _before_table(befores, protocol.procedure_heading)
    procedures = next((b for b in boxes if b.kind == "procedures"), None)
    boxes = tuple(b for b in boxes if b.kind != "procedures")
    kinds = _day_kinds(plan)
    shown = {k for ks in kinds.values() for k in ks}
    return Page(
        title="Your treatment calendar and aftercare" if options.series else "Your aftercare",
        clinic_name=options.clinic_name,
        clinic_phone=options.clinic_phone,
        clinic_address=options.clinic_address,
        patient_name=options.name,
        daily=protocol.wording.daily,
        arrive=protocol.wording.arrive,
        appointments=appointments,
        months=_months(kinds),
        legend=tuple((k, SYMBOLS[k], LEGEND[k]) for k in KINDS if k in shown),
        pause_columns=columns,
        pause_rows=rows,
        pause_boxes=boxes,
        procedures=procedures,
        after=_after_blocks(sheet.sessions),
        warning_signs=warning_signs(protocol, plan),
    )


def _day_kinds(plan: Plan) -> dict[dt.date, tuple[str, ...]]:
    """Every marked day of the plan and its kinds, strongest first."""
    found: dict[dt.date, set[str]] = {}
    for a in plan.appointments:
        found.setdefault(a.date, set()).add("session")
        for w in a.windows:
            if w.procedure:
                continue  # weeks or months long: in the pause table, not the month pictures
            kind = "medicine" if w.kind == "antiviral" else w.kind
            day = w.first_day
            while day <= w.last_day:
                found.setdefault(day, set()).add(kind)
                day += dt.timedelta(days=1)
    return {d: tuple(k for k in KINDS if k in ks) for d, ks in found.items()}


def _months(kinds: dict[dt.date, tuple[str, ...]]) -> tuple[Month, ...]:
    """A grid (weeks from Monday) for every month with a marked day."""
    cal = calendar.Calendar(firstweekday=0)
    out = []
    for year, month in sorted({(d.year, d.month) for d in kinds}):
        weeks = []
        for week in cal.monthdatescalendar(year, month):
            cells = []
            for d in week:
                if d.month != month:
                    cells.append(Cell(0))
                    continue
                ks = kinds.get(d, ())
                cells.append(Cell(d.day, ks, ", ".join(LEGEND[k] for k in ks)))
            weeks.append(tuple(cells))
        out.append(Month(year, month, tuple(weeks)))
    return tuple(out)


def _left_out(months: tuple[Month, ...]) -> tuple[str, ...]:
    """The months between two shown ones that the calendar leaves out (nothing marked in them), each
    run as "April – July 2027" (or "April 2027" alone), so that a jump from March to August is read
    as one."""
    out = []
    for a, b in itertools.pairwise(months):
        first = dt.date(a.year, a.month, 28) + dt.timedelta(days=4)  # the month after a
        last = dt.date(b.year, b.month, 1) - dt.timedelta(days=1)  # the month before b
        if first > last:
            continue
        if (first.year, first.month) == (last.year, last.month):
            out.append(f"{first:%B %Y}")
        elif first.year == last.year:
            out.append(f"{first:%B} – {last:%B %Y}")
        else:
            out.append(f"{first:%B %Y} – {last:%B %Y}")
    return tuple(out)


def _line_kind(line: BeforeLine) -> str:
    return "medicine" if line.kind == "antiviral" else "pause"


def _before_table(
    befores: list[Before], procedure_heading: str = ""
) -> tuple[tuple[str, ...], tuple[PauseRow, ...], tuple[PauseBox, ...]]:
    """One column per window before a session (by title, in order), one row per appointment,
    and each window's items once (they are the same before every session)."""
    boxes: dict[tuple[str, str], PauseBox] = {}
    dated: list[str] = []  # the columns; procedure pauses (weeks or months long) share one box, each with its wait
    for b in befores:
        for line in b.lines:
            if line.procedure:
                key = ("procedures", "procedures")
                box = boxes.get(key, PauseBox("procedures", procedure_heading or line.title, ()))
                said = (f"no {' or '.join(line.items)} for {line.wait}",)
                boxes[key] = dataclasses.replace(box, items=tuple(dict.fromkeys(box.items + said)))
                continue
            key = (line.title, _line_kind(line))
            if key not in boxes:
                prefix = "No " if line.kind == "pause" else ""
                boxes[key] = PauseBox(key[1], line.title, tuple(f"{prefix}{i}" for i in line.items) + line.ask)
                dated.append(line.title)
    columns = tuple(dated)
    rows = []
    for b in befores:
        spans = []
        for title in columns:
            match = next((x for x in b.lines if x.title == title), None)
            if match is None:
                spans.append("")
            elif b.session_date is None:
                spans.append(f"the {days_before(match, None)} days before it")
            else:
                spans.append(span_text(match.first_day, match.last_day))
        when = f" ({day_text(b.session_date)})" if b.session_date is not None else ""
        rows.append(PauseRow(f"Before {b.label}{when}", tuple(spans)))
    return columns, tuple(rows), tuple(boxes.values())


def _heading(g: DayGroup) -> str:
    if g.last_day is None:
        return f"From day {g.first_day}"
    if g.first_day == g.last_day:
        return "Day 0: the session day" if g.first_day == 0 else f"Day {g.first_day}"
    return f"Days {g.first_day}–{g.last_day}"


def _when(g: DayGroup, heading: bool = False) -> str:
    """The group's dates: "Tue 5 – Thu 7 Jan"; an open-ended group's "from Mon 11 Jan" (its first date
    alone beside its heading, "From day 7": never "From day 7 from ...")."""
    if g.last_date is None:
        first = day_text(g.first_date, year=False)
        return first if heading else f"from {first}"
    return span_text(g.first_date, g.last_date)


def _content(
    c: SessionChecklist,
) -> tuple[tuple[int, int | None, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]:
    return tuple((g.first_day, g.last_day, g.facts, g.do, g.avoid) for g in c.groups)


def _after_blocks(sessions: tuple[SessionChecklist, ...]) -> tuple[AfterBlock, ...]:
    """Sessions whose day groups say the same (on other dates) share one block, with a date table."""
    shared: dict[object, list[SessionChecklist]] = {}
    for c in sessions:
        shared.setdefault(_content(c), []).append(c)
    out = []
    for members in shared.values():
        first = members[0]
        several = len(members) > 1
        if not several:
            title = f"After {first.label.lower()}" + (f" ({day_text(first.session_date)})" if len(sessions) > 1 else "")
        elif len(members) == len(sessions):
            title = "After each session"
        else:
            title = "After " + ", ".join(m.label.lower() for m in members[:-1]) + f" and {members[-1].label.lower()}"
        groups = tuple(
            Group(_heading(g), "" if several else _when(g, heading=True), g.facts, g.do, g.avoid) for g in first.groups
        )
        dates = tuple((m.label, tuple(_when(g) for g in m.groups)) for m in members) if several else ()
        out.append(AfterBlock(title, tuple(_heading(g).split(":")[0] for g in first.groups), dates, groups))
    return tuple(out)
