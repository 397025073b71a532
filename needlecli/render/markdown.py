"""Markdown for plans: reads well as plain text, renders on GitHub, prints cleanly."""

from __future__ import annotations

from needlecli.aftercare import Before, DayGroup, Handout, days_before, handout, warning_signs
from needlecli.clinic import format_weekdays
from needlecli.model import Appointment, ExportOptions, Plan, Window
from needlecli.render.common import (
    aftercare_text,
    day_text,
    depth_text,
    depth_why,
    finding_rows,
    flags_text,
    span_text,
    table_specs,
    time_text,
    verdict_line,
)


def export(plan: Plan, options: ExportOptions) -> bytes:
    """The plan sheet (document "plan"), or the patient's aftercare checklist (document "aftercare")."""
    if options.document == "plan":
        return plan_markdown(plan).encode("utf-8")
    protocol = options.protocol
    assert protocol is not None, "aftercare needs the protocol"
    text = aftercare_markdown(
        handout(protocol, plan, options.series),
        warning_signs(protocol, plan),
        clinic_name=options.clinic_name,
        clinic_phone=options.clinic_phone,
        patient_name=options.name,
        daily=protocol.wording.daily,
    )
    return text.encode("utf-8")


#: Characters Markdown gives a meaning to: escaped in names and contact details, so `![](http://x/y.png)`
#: in a clinic or patient name stays text (no image fetched by a viewer) and `<Clinic>` stays visible.
_MD_SPECIAL = frozenset("\\`*_[]()<>!#|~")


def md_text(text: str) -> str:
    """Free text (a name, a phone) as literal Markdown, after a label on its line ("For:", "Call:"):
    every character that starts inline markup escaped (links, images, HTML, emphasis, code)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def plan_markdown(plan: Plan) -> str:
    req = plan.request
    timed = any(s.start for s in plan.sessions)
    cols = table_specs(plan)
    flagged = any(a.flags for a in plan.appointments)
    deep = any(a.deep for a in plan.appointments)
    lines = [
        f"# Clinician plan sheet: {plan.protocol.name}",
        "",
        "For the clinic's records, not for the patient: it holds the indication, screening notes and "
        "needle depths. The patient's documents are the handout and calendar (`--format html`, `ics`) "
        "and the aftercare checklist (`needle aftercare --plan`).",
        "",
    ]
    if req.patient:
        lines.append(f"- Patient: {req.patient}")
    lines += [
        f"- Protocol: {plan.protocol.name} {plan.protocol.version}",
        f"- Planned on: {plan.created_on.isoformat()} (plan {plan.plan_id}, revision {plan.revision})",
        f"- Series: {req.sessions} sessions, every {req.interval_weeks} weeks",
        f"- Clinic days: {format_weekdays(req.clinic.weekdays)}"
        + (f"; public holidays: {req.clinic.holidays}" if req.clinic.holidays else ""),
    ]
    if timed:
        lines.append(f"- Time zone: {req.tz}")
    if req.zones or plan.depth:
        lines.append(f"- Zones treated: {', '.join(z.zone for z in plan.depth)}")
    lines += ["", "## Screening", "", verdict_line(plan), ""]
    if req.findings:
        lines += _table(["Finding", "Category", "Until", "Clinician message"], finding_rows(req.findings))
        lines.append("")
    lines += ["## Sessions", ""]
    header = (
        ["#", "Date"]
        + (["Time"] if timed else [])
        + (["Caution in force"] if flagged else [])
        + (["Aftercare"] if deep else [])
        + [title for _, title in cols]
    )

    def row(a: Appointment, label: str) -> list[str]:
        cells = [label, day_text(a.date)] + ([time_text(a.start, a.end)] if timed else [])
        cells += ([flags_text(a)] if flagged else []) + ([aftercare_text(a)] if deep else [])
        return cells + [_span(a.window(spec)) for spec, _ in cols]

    lines += _table(header, [row(s, str(s.number)) for s in plan.sessions])
    if plan.boosters:
        lines += ["", "## Boosters", ""]
        lines += _table(header, [row(b, f"B{b.number}") for b in plan.boosters])
    lines += ["", "## Around every session", ""]
    for w in plan.sessions[0].windows:
        lines.append(f"**{w.title}**" + _days_note(w, plan))
        lines.append("")
        # What to avoid is a list of words; a whole sentence (a medicine to pause only if the physician
        # approves) follows it as its own line, not as one more item with a capital mid-list.
        lines += [f"- {item}" for item in w.items if not item.endswith(".")]
        sentences = [item for item in w.items if item.endswith(".")]
        lines += ["", *sentences] if sentences else []
        lines.append("")
    lines.append(plan.wording.daily)
    lines += ["", "## Needle depth by zone", ""]
    lines += _depth_table(plan)
    if plan.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {n.text} ({n.cause})" for n in plan.notes]
    return "\n".join(lines).rstrip() + "\n"


def _depth_table(plan: Plan) -> list[str]:
    """One range per zone; a column per appointment when cautions make them differ."""
    apps = plan.appointments
    differ = len({tuple((z.min_mm, z.max_mm) for z in a.depth) for a in apps}) > 1
    labels = [a.label if a.kind == "booster" else f"Session {a.number}" for a in apps]
    header = ["Zone", *(labels if differ else ["Depth"]), "Why"]
    rows = []
    for i, z in enumerate(plan.depth):
        ranges = [depth_text(a.depth[i].min_mm, a.depth[i].max_mm) for a in apps] if differ else []
        rows.append([z.zone, *(ranges or [depth_text(z.min_mm, z.max_mm)]), depth_why(z)])
    return _table(header, rows)


def _span(w: Window | None) -> str:
    return span_text(w.first_day, w.last_day) if w is not None else ""


def _days_note(w: Window, plan: Plan) -> str:
    session = plan.sessions[0].date
    a, b = (w.first_day - session).days, (w.last_day - session).days
    if w.procedure:
        return " (to the day before each session)"
    if w.kind == "pause":
        return f" (from {-a} days before to the day before each session)"
    if a == 0:
        return f" (the session day{f' to day {b} after' if b else ''})"
    return f" (day {a} to day {b} after the session)"


def _group_heading(g: DayGroup) -> str:
    if g.last_day is None:
        return f"From day {g.first_day} — {day_text(g.first_date)}"
    if g.first_day == g.last_day:
        return f"Day {g.first_day} — {day_text(g.first_date)}"
    assert g.last_date is not None
    return f"Days {g.first_day}–{g.last_day} — {span_text(g.first_date, g.last_date)}"


def _before(b: Before, h: str) -> list[str]:
    """The windows before a session: each pause's days and what to avoid, each caution window's to-do."""
    when = f" ({day_text(b.session_date)})" if b.session_date is not None else ""
    lines = [f"{h} Before {b.label}{when}", ""]
    for line in b.lines:
        if b.session_date is None and line.procedure:
            lines.append(line.title)  # says how long
        elif b.session_date is None:
            lines.append(f"{line.title}: for the {days_before(line, None)} days before it")
        else:
            lines.append(f"{line.title}: {span_text(line.first_day, line.last_day)}")
        lines.append("")
        prefix = "No " if line.kind == "pause" else ""
        lines += [f"- [ ] {prefix}{item}" for item in line.items]
        lines += [f"- [ ] {item}" for item in line.ask]
        lines.append("")
    return lines


def aftercare_markdown(
    sheet: Handout,
    warning_signs: tuple[str, ...],
    *,
    clinic_name: str | None = None,
    clinic_phone: str | None = None,
    patient_name: str | None = None,
    daily: str,
) -> str:
    """A GitHub task list per session, grouped by day, with the warning signs.

    Things to do are boxes to tick; facts ("redness is normal today") are plain lines.
    """
    lines = ["# Aftercare after microneedling", ""]
    if patient_name:
        lines += [f"For: {md_text(patient_name)}", ""]
    lines += [f"Tick each box as you go. {daily}", ""]
    several = len(sheet.sessions) > 1
    h = "###" if several else "##"
    if sheet.before_first is not None:
        lines += _before(sheet.before_first, "##")
    for c in sheet.sessions:
        if several:
            lines += [f"## {c.label} — {day_text(c.session_date)}", ""]
        for g in c.groups:
            lines += [f"{h} {_group_heading(g)}", ""]
            lines += list(g.facts) + ([""] if g.facts else [])
            lines += [f"- [ ] {item}" for item in g.do]
            lines += [f"- [ ] Avoid {item}" for item in g.avoid]
            lines.append("")
        lines += _before(c.next_pause, "##")  # the next session's preparation: not part of this session's days
    lines += ["## Call the clinic if you notice", ""]
    lines += [f"- {sign}" for sign in warning_signs]
    lines.append("")
    contact = " · ".join(md_text(x) for x in (clinic_name, clinic_phone) if x)
    lines.append(f"Call: {contact}" if contact else "Call the clinic that treated you.")
    return "\n".join(lines).rstrip() + "\n"
