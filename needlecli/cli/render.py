"""Human output for screening results (rich; imported only when needed)."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from needlecli.model import ScreeningProtocol, ScreeningResult

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
