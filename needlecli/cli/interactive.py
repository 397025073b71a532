"""The interactive screening interview (rich prompts), used only at a terminal.

Questions come from the protocol in its order, grouped by section. Bad input
is explained and asked again; nothing is assumed (there is no default answer,
and an empty reply is asked again). A date question with a gate prompt asks the
date only when the gate is "yes"; after a "yes" a date is required.
Protocol text is shown literally (never read as rich markup).
"""

from __future__ import annotations

import datetime as dt

from rich import box
from rich.console import Console
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from needlecli.answers import BadAnswer, format_answer, parse_date, parse_text
from needlecli.model import AnswerValue, Question, ScreeningProtocol

HINTS = {"bool": "y/n", "date": "YYYY-MM-DD, or 'none'", "fitzpatrick": "1-6 or I-VI"}


def gate_text(q: Question) -> str:
    """A gated date question's yes/no prompt, with its look-back window filled in."""
    return (q.gate_prompt or q.prompt).replace("{months}", str(q.lookback_months))


def label(q: Question) -> str:
    """How a question reads in the summary table."""
    return gate_text(q) if q.gate_prompt else q.prompt


def _ask(console: Console, prompt: str, hint: str) -> str:
    text = Text(prompt)
    text.append(f" ({hint})", style="dim")
    return Prompt.ask(text, console=console)


def ask_question(console: Console, q: Question, on: dt.date) -> AnswerValue:
    """Ask one question until the answer is usable."""
    if q.type == "date" and q.gate_prompt:
        yes_no = Question(id=q.id, type="bool", section=q.section, prompt=gate_text(q))
        if not _ask_until_valid(console, yes_no, yes_no.prompt, HINTS["bool"], on):
            return None
        return _ask_until_valid(console, q, q.prompt, "YYYY-MM-DD", on, date_required=True)
    return _ask_until_valid(console, q, q.prompt, HINTS[q.type], on)


def _ask_until_valid(
    console: Console, q: Question, prompt: str, hint: str, on: dt.date, *, date_required: bool = False
) -> AnswerValue:
    while True:
        text = _ask(console, prompt, hint)
        if not text.strip():
            console.print(Text(f"  Please answer ({hint}).", style="red"))
            continue
        try:
            value = parse_date(text) if date_required else parse_text(q, text)
        except BadAnswer as exc:
            msg = str(exc)
            console.print(Text(f"  {msg[:1].upper()}{msg[1:]}.", style="red"))
            continue
        if isinstance(value, dt.date) and value > on:
            console.print(
                Text(
                    f"  Note: {value.isoformat()} is after the evaluation date ({on.isoformat()}); "
                    "it is taken as the planned last date.",
                    style="yellow",
                )
            )
        return value


def answers_table(protocol: ScreeningProtocol, answers: dict[str, AnswerValue]) -> Table:
    table = Table(title="Answers", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Section", no_wrap=True)
    table.add_column("Question")
    table.add_column("Answer", no_wrap=True)
    for i, q in enumerate(protocol.questions, 1):
        value = answers.get(q.id)
        shown = format_answer(q, value)
        if q.gate_prompt and value is None:
            shown = "no"
        style = "bold" if value not in (False, None) else ""
        table.add_row(str(i), Text(q.section), Text(label(q)), Text(shown, style=style))
    return table


def run_interview(
    protocol: ScreeningProtocol,
    given: dict[str, AnswerValue],
    missing: list[str],
    on: dt.date,
    *,
    to_stderr: bool = False,
) -> dict[str, AnswerValue]:
    """Ask the missing questions, then let the user review and change any answer."""
    console = Console(stderr=to_stderr, highlight=False)
    answers = dict(given)
    head = Text("Microneedling screening", style="bold")
    head.append(f" · {protocol.info.title} ({protocol.info.name} {protocol.info.version}) · {on.isoformat()}")
    console.print(head)
    console.print(Text("Answer each question; you can review and change answers at the end. Ctrl-C cancels.", "dim"))
    section = None
    for q in protocol.questions:
        if q.id not in missing:
            continue
        if q.section != section:
            section = q.section
            console.rule(Text(section, style="bold"), align="left")
        answers[q.id] = ask_question(console, q, on)

    numbers = {str(i): q for i, q in enumerate(protocol.questions, 1)}
    while True:
        console.print()
        console.print(answers_table(protocol, answers))
        reply = Prompt.ask(
            "Press Enter to confirm these answers, or type a number to change one",
            console=console,
            default="",
            show_default=False,
        ).strip()
        if not reply:
            return answers
        chosen = numbers.get(reply)
        if chosen is None:
            console.print(Text(f"  {reply!r} is not a question number (1-{len(numbers)}).", style="red"))
            continue
        answers[chosen.id] = ask_question(console, chosen, on)
