"""Human output for screening results (rich; imported only when needed)."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from needlecli.model import Plan, ScreeningProtocol, ScreeningResult

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


def result_panel(result: ScreeningResult, protocol: ScreeningProtocol, patient: str | None) -> Panel:
    parts: list[RenderableType] = []
    head = Text(HEADLINE[result.verdict], style=STYLE[result.verdict])
    parts.append(head)
    when = Text()
    if result.verdict == "defer":
        if result.earliest_date is None:
            when.append("Earliest date: none — re-assess before planning (a deferral has no end date).")
        else:
            when.append(f"Earliest date: {result.earliest_date.isoformat()} ({result.earliest_date:%a %d %b %Y})")
    elif result.verdict in ("eligible", "caution") and result.earliest_date is not None:
        when.append(f"Earliest date: {result.earliest_date.isoformat()} (today's evaluation)")
    if when.plain:
        parts.append(when)
    if result.findings:
        table = Table(box=box.SIMPLE_HEAD, expand=False, show_edge=False, pad_edge=False)
        table.add_column("Category", no_wrap=True)
        table.add_column("Finding")
        table.add_column("Until", no_wrap=True)
        for f in result.findings:
            table.add_row(
                Text(f.category, style=STYLE[f.category]),
                Text(f.message),
                f.until.isoformat() if f.until else "—",
            )
        parts.append(Text(""))
        parts.append(table)
        seen: list[str] = []
        for f in result.findings:
            if f.patient_message not in seen:
                seen.append(f.patient_message)
        parts.append(Text("\nFor the patient:", style="bold"))
        bullets = Table.grid(padding=(0, 1))
        bullets.add_column(no_wrap=True)
        bullets.add_column()
        for msg in seen:
            bullets.add_row(" •", Text(msg))
        parts.append(bullets)
    title = "Screening"
    if patient:
        title += f" · {patient}"
    subtitle = f"{protocol.info.name} {protocol.info.version} · evaluated {result.evaluated_on.isoformat()}"
    return Panel(
        Group(*parts), title=Text(title), subtitle=Text(subtitle), border_style=STYLE[result.verdict], expand=False
    )


def print_result(
    result: ScreeningResult, protocol: ScreeningProtocol, patient: str | None, saved_to: Path | None = None
) -> None:
    console = Console(highlight=False)
    console.print(result_panel(result, protocol, patient))
    if saved_to is not None:
        console.print(f"Screening record saved to {saved_to} (mode 0600).")


def plan_renderable(plan: Plan) -> Group:
    from needlecli.clinic import format_weekdays
    from needlecli.render.common import day_text, depth_text, span_text, time_text

    req = plan.request
    timed = any(s.start for s in plan.sessions)
    cols = plan.window_specs()
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
    for _, title in cols:
        table.add_column(Text(title), no_wrap=False)
    for a in plan.appointments:
        cells: list[RenderableType] = [a.label, Text(day_text(a.date), style="bold")]
        if timed:
            cells.append(time_text(a.start, a.end))
        for spec, _ in cols:
            w = a.window(spec)
            cells.append(span_text(w.first_day, w.last_day) if w else "")
        table.add_row(*cells)
    parts: list[RenderableType] = [head, sub, Text(""), table]
    items = Table.grid(padding=(0, 2))
    items.add_column(no_wrap=True, style="bold")
    items.add_column()
    for w in plan.sessions[0].windows:
        items.add_row(Text(w.title), Text(", ".join(w.items)))
    parts += [Text(""), items]
    depth = Table(title="Needle depth", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    depth.add_column("Zone")
    depth.add_column("Depth", justify="right")
    for z in plan.depth:
        depth.add_row(z.zone, depth_text(z.min_mm, z.max_mm))
    parts += [Text(""), depth]
    for note in plan.notes:
        parts.append(Text(f"Note: {note}", style="yellow"))
    return Group(*parts)


def print_plan(plan: Plan) -> None:
    Console(highlight=False).print(plan_renderable(plan))


def plan_table_text(plan: Plan) -> str:
    """The table view as plain text (for --format table --out FILE)."""
    import io

    console = Console(file=io.StringIO(), width=110, color_system=None, highlight=False, record=True)
    console.print(plan_renderable(plan))
    return console.export_text()
