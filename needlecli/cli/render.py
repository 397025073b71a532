"""Human output for screening results (rich; imported only when needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from needlecli.model import SEVERITY, Plan, ScreeningProtocol, ScreeningResult

STYLE = {
    "eligible": "bold green",
    "caution": "bold yellow",
    "defer": "bold dark_orange",
    "contraindicated": "bold red",
}
HEADLINE = {
    "eligible": "ELIGIBLE — no contraindications found",
    "caution": "CAUTION — may proceed with the precautions below",
    "defer": "DEFER — do not treat yet",
    "contraindicated": "CONTRAINDICATED — do not treat",
}


def result_panel(
    result: ScreeningResult,
    protocol: ScreeningProtocol,
    patient: str | None,
    *,
    clinician: str | None = None,
    today: dt.date | None = None,
    order: str = "ISO",
) -> Panel:
    """The verdict: the headline, the earliest date, the findings (most severe first, then in
    protocol order) and what to tell the patient. ``today`` (the CLI's clock) tells an evaluation
    for today from one for another date."""
    from needlecli.dates import shown
    from needlecli.screening import patient_lines

    def d(day: dt.date) -> str:  # a date as the clinic writes them (config date_order)
        return shown(day.isoformat(), order)

    parts: list[RenderableType] = []
    head = Text(HEADLINE[result.verdict], style=STYLE[result.verdict])
    if result.verdict == "eligible" and protocol.overrides:
        # Under this clinic's loosened rules, not the standard ones: never "no contraindications" alone.
        head = Text(
            "ELIGIBLE under this clinic's rules — looser than the standard for "
            + "; ".join(f"{q} (override: {why})" for q, why in protocol.overrides),
            style=STYLE[result.verdict],
        )
    parts.append(head)
    when = Text()
    evaluated = result.evaluated_on
    if result.verdict == "defer":
        if result.earliest_date is None:
            when.append("Earliest date: none — re-assess before planning (a deferral has no end date).")
        else:
            when.append(f"Earliest date: {d(result.earliest_date)} ({result.earliest_date:%a %d %b %Y})")
    elif result.verdict in ("eligible", "caution") and result.earliest_date is not None:
        why = "today's evaluation" if today == evaluated else f"evaluated on {d(evaluated)}"
        when.append(f"Earliest date: {d(result.earliest_date)} ({why})")
    if when.plain:
        parts.append(when)
    if clinician:
        parts.append(Text(f"Clinician: {clinician}"))
    if result.findings:
        position = {qid: i for i, qid in enumerate(protocol.ids)}
        ordered = sorted(result.findings, key=lambda f: (-SEVERITY[f.category], position.get(f.id, len(position))))
        table = Table(box=box.SIMPLE_HEAD, expand=False, show_edge=False, pad_edge=False)
        table.add_column("Category", no_wrap=True)
        table.add_column("Finding")
        table.add_column("Until", no_wrap=True)
        for f in ordered:
            table.add_row(
                Text(f.category, style=STYLE[f.category]),
                Text(shown(f.message, order)),
                d(f.until) if f.until else "—",
            )
        parts.append(Text(""))
        parts.append(table)
    lines = patient_lines(result)
    if lines:
        parts.append(Text("\nFor the patient:", style="bold"))
        bullets = Table.grid(padding=(0, 1))
        bullets.add_column(no_wrap=True)
        bullets.add_column()
        for line in lines:
            bullets.add_row(" •", Text(shown(line, order)))
        parts.append(bullets)
    title = "Screening"
    if patient:
        title += f" · {patient}"
    subtitle = f"{protocol.info.name} {protocol.info.version} · evaluated {d(evaluated)}"
    return Panel(
        Group(*parts), title=Text(title), subtitle=Text(subtitle), border_style=STYLE[result.verdict], expand=False
    )


#: Said after an interactive screening run without --out, so nobody believes it was kept.
NOT_SAVED = "Not saved: no patient id was given (rerun with --patient, or --out FILE.toml for a record file)."


def print_result(
    result: ScreeningResult,
    protocol: ScreeningProtocol,
    patient: str | None,
    saved_to: Path | None = None,
    *,
    clinician: str | None = None,
    today: dt.date | None = None,
    say_not_saved: bool = False,
    order: str = "ISO",
) -> None:
    """Print the verdict panel, then where the record was saved (or, with ``say_not_saved``, that it was not)."""
    console = Console(highlight=False)
    console.print(result_panel(result, protocol, patient, clinician=clinician, today=today, order=order))
    if saved_to is not None:
        console.print(Text(f"Screening record saved to {saved_to} (mode 0600)."))
    elif say_not_saved:
        console.print(Text(NOT_SAVED, style="yellow"))


def plan_renderable(plan: Plan, width: int | None = None, order: str = "ISO") -> Group:
    """The plan at the terminal; where its table would not fit ``width`` columns (an 80-column
    terminal, a plan with many windows), each appointment as a short list instead: headers are never
    cut to `hea…` and date ranges never stacked a word per line."""
    from needlecli.clinic import format_weekdays
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

    req = plan.request
    timed = any(s.start for s in plan.sessions)
    cols = table_specs(plan)
    flagged = any(a.flags for a in plan.appointments)
    deep = any(a.deep for a in plan.appointments)
    head = Text(f"Treatment plan · {plan.protocol.name} {plan.protocol.version}", style="bold")
    if req.patient:
        head.append(f" · {req.patient}")
    sub = Text(
        f"{req.sessions} sessions every {req.interval_weeks} weeks · clinic days {format_weekdays(req.clinic.weekdays)}"
        + (f" · holidays {req.clinic.holidays}" if req.clinic.holidays else "")
        + (f" · {req.tz}" if timed else "")
        + f" · planned {plan.created_on.isoformat()} (plan {plan.plan_id} rev {plan.revision})",
        style="dim",
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Date", no_wrap=True)
    if timed:
        table.add_column("Time", no_wrap=True)
    if flagged:
        table.add_column("Caution in force", overflow="fold", min_width=12)
    if deep:
        table.add_column("Aftercare")
    for _, title in cols:
        table.add_column(Text(title), no_wrap=False)
    for a in plan.appointments:
        cells: list[RenderableType] = [a.label, Text(day_text(a.date), style="bold")]
        if timed:
            cells.append(time_text(a.start, a.end))
        if flagged:
            cells.append(Text(flags_text(a), style="yellow"))
        if deep:
            cells.append(aftercare_text(a))
        for spec, _ in cols:
            w = a.window(spec)
            cells.append(span_text(w.first_day, w.last_day) if w else "")
        table.add_row(*cells)
    if width is not None:
        from rich.measure import Measurement

        wide = Console(width=10_000)  # the table's natural width, unconstrained
        if Measurement.get(wide, wide.options, table).maximum > width:
            table = _as_list(plan, cols, timed, flagged, deep)
    screening: list[RenderableType] = [Text(verdict_line(plan), style="bold" if req.screening else "yellow")]
    if req.findings:
        found = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for title in ("Finding", "Category", "Until", "Clinician message"):
            found.add_column(title)
        for cells_ in finding_rows(req.findings):
            found.add_row(*(Text(c) for c in cells_))
        screening.append(found)
    parts: list[RenderableType] = [head, sub, Text(""), *screening, Text(""), table]
    items = Table.grid(padding=(0, 2))
    items.add_column(no_wrap=True, style="bold")
    items.add_column()
    for w in plan.sessions[0].windows:
        words = ", ".join(i for i in w.items if not i.endswith("."))  # a sentence is not one more item
        sentences = [i for i in w.items if i.endswith(".")]
        items.add_row(Text(w.title), Text(". ".join(filter(None, [words, " ".join(sentences)]))))
    parts += [Text(""), items]
    depth = Table(title="Needle depth", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    depth.add_column("Zone")
    apps = plan.appointments
    differ = len({tuple((z.min_mm, z.max_mm) for z in a.depth) for a in apps}) > 1
    for a in apps if differ else ():
        depth.add_column(a.label, justify="right")
    if not differ:
        depth.add_column("Depth", justify="right")
    depth.add_column("Why")
    for i, z in enumerate(plan.depth):
        ranges = [depth_text(a.depth[i].min_mm, a.depth[i].max_mm) for a in apps] if differ else []
        depth.add_row(z.zone, *(ranges or [depth_text(z.min_mm, z.max_mm)]), Text(depth_why(z)))
    parts += [Text(""), depth]
    from needlecli.dates import shown

    for note in plan.notes:
        parts.append(Text(f"Note ({note.cause}): {shown(note.text, order)}", style="yellow"))
    return Group(*parts)


def _as_list(plan: Plan, cols: list[tuple[str, str]], timed: bool, flagged: bool, deep: bool) -> Table:
    """The plan's appointments one under another, each window on a line of its own."""
    from needlecli.render.common import aftercare_text, day_text, flags_text, span_text, time_text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column()
    for a in plan.appointments:
        head = Text(day_text(a.date), style="bold")
        if timed:
            head.append(f"  {time_text(a.start, a.end)}")
        grid.add_row(Text(a.label, style="bold"), head)
        if flagged and a.flags:
            grid.add_row("", Text(f"Caution in force: {flags_text(a)}", style="yellow"))
        if deep:
            grid.add_row("", Text("Aftercare: ") + Text(str(aftercare_text(a))))
        for spec, title in cols:
            w = a.window(spec)
            if w is not None:
                grid.add_row("", Text(f"{title}: {span_text(w.first_day, w.last_day)}"))
        grid.add_row("", "")
    return grid


def print_plan(plan: Plan, order: str = "ISO") -> None:
    console = Console(highlight=False)
    console.print(plan_renderable(plan, console.width, order))


def plan_table_text(plan: Plan) -> str:
    """The table view as plain text (for --format table --out FILE)."""
    import io

    console = Console(file=io.StringIO(), width=110, color_system=None, highlight=False, record=True)
    console.print(plan_renderable(plan))
    return console.export_text()
