"""The interactive screening interview (rich prompts), used only at a terminal.

Questions come from the protocol in its order, grouped by section, with the
progress shown ("5/28" before a question, "section 2 of 8" on a section's
heading). Only the main questions are counted: a follow-up (a question with
``asked_if``) is asked only after a "yes" to its gate or to the yes/no question
it follows, and after a "no" it is answered without asking (none for a date, no
for a yes/no question). A date question with its own ``gate_prompt`` asks the
date only after a "yes" there, and then a date is required.

Bad input is explained in one line and asked again; nothing is assumed (there is
no default answer, and an empty reply is asked again); a date after the
evaluation date is refused; ``?`` prints the question's help and asks again.
Dates are read in the clinic's date order (`needlecli.dates`: 2026-05-03, 3 May 2026, and
03/05/2026 under DMY) and echoed in words ("→ Sun 3 May 2026"); a date older than the window
its gate asked about ("in the last 12 months?", then a date two years ago) is kept, with a
warning.
Protocol text is shown literally (never read as rich markup). Replies are read
with line editing (readline) where the platform has it.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TextIO

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text, TextType

from needlecli.answers import format_answer, parse_text
from needlecli.dates import BadAnswer, describe, layout, parse_date
from needlecli.model import AnswerValue, Gate, Question, Rule, ScreeningProtocol


def _load_readline() -> ModuleType | None:
    """Importing readline gives input() line editing: the arrow keys move in the line and recall
    earlier replies instead of printing ``^[[A``. Nothing is read from or written to a history file."""
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline (Windows)
        return None
    return readline


READLINE = _load_readline()
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
HELP_HINT = "Type ? at any question to hear what it means."
NO_HELP = "The protocol has no explanation for this question; ask the clinician."
FOLLOW_UP = "  ↳ "


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def read_line(console: Console, prompt: TextType) -> str:
    """One reply typed after ``prompt``.

    rich prints a prompt itself and then calls ``input("")``, so readline does not know the prompt
    is on the line and erases it on backspace or Ctrl-U (rich issue #2293). When the prompt goes to
    stdout and both ends are the terminal, the rendered prompt is handed to ``input()`` instead, its
    colour codes marked as taking no room. Otherwise (the interview on stderr, with ``--json``) rich
    prints it as usual.
    """
    if READLINE is None or console.stderr or not (_is_tty(sys.stdin) and _is_tty(sys.stdout)):
        return console.input(prompt)
    with console.capture() as captured:
        console.print(prompt, end="")
    rendered = captured.get()
    if "libedit" in (READLINE.__doc__ or ""):
        rendered = _ANSI.sub("", rendered)  # libedit does not take GNU readline's \001...\002 markers
    else:
        rendered = _ANSI.sub(lambda m: f"\001{m.group(0)}\002", rendered)
    return input(rendered)


class LinePrompt(Prompt):
    """rich's Prompt, reading the reply with :func:`read_line`."""

    @classmethod
    def get_input(cls, console: Console, prompt: TextType, password: bool, stream: TextIO | None = None) -> str:
        return read_line(console, prompt)


def gate_text(q: Question) -> str:
    """A gated date question's yes/no prompt, with its look-back window filled in."""
    return q.gate_text


def label(q: Question) -> str:
    """How a question reads in the summary table."""
    return gate_text(q) if q.gate_prompt else q.prompt


def hint(q: Question, order: str = "ISO") -> str:
    """What a reply looks like, shown after the prompt (dates in the clinic's date order)."""
    if q.type == "bool":
        return "y/n"
    if q.type == "date":
        return f"{layout(order)}, or 'none'"
    if q.type == "int":
        return f"{q.minimum}-{q.maximum}"
    return "1-6 or I-VI"


def closed_value(q: Question) -> AnswerValue:
    """The answer of a follow-up that is not asked (its gate or question was answered no)."""
    return None if q.type == "date" else False


class _Back(Exception):
    """`back` typed at the date after a lead-in's "yes": ask the yes/no again."""


@dataclass(frozen=True)
class Step:
    """One thing the interview may ask: a question, or a gate before its follow-ups."""

    section: str
    question: Question | None = None
    gate: Gate | None = None
    #: Counted in the progress ("5/28"); follow-ups are not, as they may be skipped.
    counted: bool = True


def plan_steps(
    protocol: ScreeningProtocol, given: dict[str, AnswerValue], missing: list[str]
) -> tuple[list[Step], list[Question]]:
    """What the interview may ask, in protocol order, for the questions in ``missing``; and the
    follow-ups it never asks, as the answers already given say no to the question they follow.

    A gate is asked once, before the first of its follow-ups that is missing, unless the answers
    already given show it is a "yes" (a procedure date is given). A follow-up of a question the
    answers file answered yes is asked as a main question.
    """
    todo = set(missing)
    steps: list[Step] = []
    closed: list[Question] = []
    gates_planned: set[str] = set()
    for q in protocol.questions:
        if q.id not in todo:
            continue
        parent = q.asked_if
        gate = protocol.gate(parent) if parent else None
        if parent is None:
            steps.append(Step(q.section, question=q))
        elif gate is not None:
            if _opened_by(protocol, gate.id, given):
                steps.append(Step(q.section, question=q))
                continue
            if gate.id not in gates_planned:
                gates_planned.add(gate.id)
                steps.append(Step(gate.section, gate=gate))
            steps.append(Step(q.section, question=q, counted=False))
        elif parent in todo:
            steps.append(Step(q.section, question=q, counted=False))
        elif given.get(parent, True):
            steps.append(Step(q.section, question=q))
        else:
            closed.append(q)
    return steps, closed


def _opened_by(protocol: ScreeningProtocol, gid: str, given: dict[str, AnswerValue]) -> bool:
    """Whether an answer already given to a follow-up of gate ``gid`` means its gate is a yes."""
    return any(q.asked_if == gid and given.get(q.id) not in (None, False) for q in protocol.questions)


class Interview:
    """Asks the questions of one screening and keeps the answers consistent."""

    def __init__(
        self,
        console: Console,
        protocol: ScreeningProtocol,
        on: dt.date,
        answers: dict[str, AnswerValue],
        order: str = "ISO",
    ) -> None:
        self.console = console
        self.protocol = protocol
        self.on = on
        self.answers = answers
        #: The clinic's date order (config `date_order`): how 03/05/2026 is read.
        self.order = order
        self.gates: dict[str, bool] = {}
        #: `needle check`: the answers on record, each the default of its question (Enter keeps it).
        self.defaults: dict[str, AnswerValue] = {}

    # ------------------------------------------------------------ one question

    def _prompt(self, lead: str, prompt: str, hint_text: str) -> str:
        text = Text()
        text.append(lead, style="dim")
        text.append(prompt)
        if not prompt.endswith(f"({hint_text})"):  # "Fitzpatrick skin type (1-6 or I-VI)" says it already
            text.append(f" ({hint_text})", style="dim")
        return LinePrompt.ask(text, console=self.console)

    def _say(self, message: str, style: str = "red") -> None:
        self.console.print(Text(f"  {message}", style=style))

    def ask_until_valid(
        self,
        lead: str,
        prompt: str,
        hint_text: str,
        help_text: str,
        parse: Callable[[str], AnswerValue],
        default: tuple[str, AnswerValue] | None = None,
    ) -> AnswerValue:
        """Ask until the reply parses (``?`` shows the help); a date after the evaluation date is refused.
        ``default``: (how it reads, the value) an empty reply keeps (the answer on record)."""
        if default is not None:
            hint_text = f"{hint_text}; Enter keeps: {default[0]}"
        while True:
            reply = self._prompt(lead, prompt, hint_text).strip()
            if reply == "?":
                self.console.print(Padding(Text(help_text or NO_HELP, style="cyan"), (0, 0, 0, 2), expand=False))
                continue
            if not reply and default is not None:
                return default[1]
            if not reply:
                self._say(f"Please answer ({hint_text}).")
                continue
            try:
                value = parse(reply)
            except BadAnswer as exc:
                msg = str(exc)
                self._say(f"{msg[:1].upper()}{msg[1:]}.")
                continue
            if isinstance(value, dt.date) and value > self.on:
                self._say(f"That date is after the evaluation date ({self.on.isoformat()}); give the date it happened.")
                continue
            if isinstance(value, dt.date):
                self._say(f"→ {describe(value)}", style="dim")  # the date understood, in words
            return value

    def ask_yes_no(self, lead: str, prompt: str, help_text: str, default: bool | None = None) -> bool:
        yes_no = Question(id="", type="bool", section="", prompt=prompt)
        kept = None if default is None else ("yes" if default else "no", default)
        return bool(self.ask_until_valid(lead, prompt, "y/n", help_text, lambda s: parse_text(yes_no, s), kept))

    def _default(self, q: Question) -> tuple[str, AnswerValue] | None:
        if q.id not in self.defaults:
            return None
        from needlecli.answers import format_answer

        value = self.defaults[q.id]
        return format_answer(q, value), value

    def ask_question(self, q: Question, lead: str = "") -> AnswerValue:
        """Ask one question until the answer is usable; a date its gate's window contradicts is
        kept with a warning (see :func:`outside_gate`)."""
        default = self._default(q)
        if q.type == "date" and q.gate_prompt:
            recorded = bool(default[1]) if default is not None else None
            while True:
                if not self.ask_yes_no(lead, gate_text(q), q.help, recorded):
                    return None
                indent = " " * max(len(lead) - len(FOLLOW_UP), 0) + FOLLOW_UP
                dated = default if default is not None and isinstance(default[1], dt.date) else None
                # A mistaken "yes" can be taken back here: `none` / `no` answer none, `back` asks again.
                hint_text = f"{layout(self.order)}, 'none', or 'back'"
                try:
                    value = self.ask_until_valid(indent, q.prompt, hint_text, q.help, self._date_or_back, dated)
                    break
                except _Back:
                    continue
        else:
            value = self.ask_until_valid(lead, q.prompt, hint(q, self.order), q.help, self._reply(q), default)
        if isinstance(value, dt.date):
            self.warn_outside_gate(q, value)
        return value

    def _date(self, text: str) -> dt.date:
        return parse_date(text, self.order)

    def _date_or_back(self, text: str) -> AnswerValue:
        """The date after a "yes" at its lead-in; `none`/`no` take the yes back, `back` asks it again."""
        word = text.strip().casefold()
        if word in ("none", "no", "n"):
            return None
        if word == "back":
            raise _Back
        return parse_date(text, self.order)

    def _reply(self, q: Question) -> Callable[[str], AnswerValue]:
        return lambda text: parse_text(q, text, self.order)

    def warn_outside_gate(self, q: Question, value: dt.date) -> None:
        """Say so when a yes at a gate ("... in the last 12 months?") is followed by a date outside it."""
        window = outside_gate(self.protocol, q, value, self.on)
        if window is not None:
            self._say(
                f"Note: {describe(value)} is {window} or more before the evaluation date, but the question "
                f"was about the last {window}. Check the year; the date is kept (you can change it at the review).",
                style="yellow",
            )

    # ------------------------------------------------------------ the interview

    def is_open(self, parent: str) -> bool:
        """Whether the follow-ups of ``parent`` (a gate or a yes/no question) are asked."""
        if self.protocol.gate(parent) is not None:
            return self.gates.get(parent, True)
        return bool(self.answers.get(parent, True))

    def run(self, missing: list[str]) -> None:
        steps, closed = plan_steps(self.protocol, self.answers, missing)
        for shut in closed:
            self.answers[shut.id] = closed_value(shut)
        total = sum(s.counted for s in steps)
        sections = list(dict.fromkeys(s.section for s in steps))
        follow_ups = sum(not s.counted and s.gate is None for s in steps)
        what = f"{total} question{'s' if total != 1 else ''}"
        if len(sections) > 1:
            what += f" in {len(sections)} sections"
        if follow_ups:
            what += f", and up to {follow_ups} follow-up{'s' if follow_ups != 1 else ''} asked only after a yes"
        self.console.print(
            Text(f"{what}. {HELP_HINT} You can review and change every answer at the end. Ctrl-C cancels.", "dim")
        )
        width = len(str(total))
        number = 0
        section: str | None = None
        for step in steps:
            q = step.question
            if q is not None and q.asked_if and not self.is_open(q.asked_if):
                self.answers[q.id] = closed_value(q)
                continue
            if step.section != section:
                section = step.section
                where = f" (section {sections.index(section) + 1} of {len(sections)})" if len(sections) > 1 else ""
                self.console.rule(Text(section + where, style="bold"), align="left")
            if step.counted:
                number += 1
                lead = f"{number:>{width}}/{total} "
            else:
                lead = " " * (2 * width - 2) + FOLLOW_UP
            if step.gate is not None:
                gid = step.gate.id
                behind = [q.id for q in self.protocol.questions if q.asked_if == gid and q.id in self.defaults]
                recorded = any(self.defaults[qid] for qid in behind) if behind else None  # any on record: yes
                self.gates[gid] = self.ask_yes_no(lead, step.gate.prompt, step.gate.help, recorded)
            elif q is not None:
                self.answers[q.id] = self.ask_question(q, lead)

    # ------------------------------------------------------------ the summary

    def children(self, q: Question) -> list[Question]:
        return [c for c in self.protocol.questions if c.asked_if == q.id]

    def close(self, q: Question) -> None:
        """Answer ``q`` and its own follow-ups with none / no."""
        self.answers[q.id] = closed_value(q)
        for c in self.children(q):
            self.close(c)

    def change(self, q: Question) -> None:
        """Ask ``q`` again; a yes/no question's follow-ups follow its new answer (closed on no, asked on a new yes)."""
        old = self.answers.get(q.id)
        new = self.ask_question(q)
        self.answers[q.id] = new
        self.follow(q, old, new)

    def follow(self, q: Question, old: AnswerValue, new: AnswerValue) -> None:
        for c in self.children(q):
            if not new:
                self.close(c)
            elif not old:
                before = self.answers.get(c.id)
                self.answers[c.id] = self.ask_question(c, FOLLOW_UP)
                self.follow(c, before, self.answers[c.id])

    def review(self) -> None:
        """Show the answers until they are confirmed; a number changes that answer (numbered as the
        interview counted: 21, and 21.1 for a follow-up of 21)."""
        position = review_numbers(self.protocol)
        numbers = {n: self.protocol.question(qid) for qid, n in position.items()}
        main = max(int(n.split(".")[0]) for n in position.values())
        show = True
        while True:
            if show:  # after a mistyped number only the line saying so: it stays next to the prompt
                self.console.print()
                size = self.console.size
                self.console.print(answers_table(self.protocol, self.answers, self.gates, size.width, size.height))
            show = False
            reply = LinePrompt.ask(
                "Press Enter to confirm these answers, or type a number to change one",
                console=self.console,
                default="",
                show_default=False,
            ).strip()
            if not reply:
                return
            chosen = numbers.get(reply)
            if chosen is None:
                self._say(f"{reply!r} is not a question number (1-{main}, or 21.1 for a follow-up).")
                continue
            parent = chosen.asked_if
            if parent and self.protocol.gate(parent) is None and not self.answers.get(parent):
                self._say(
                    f"{reply} is asked only after a yes to {position[parent]} "
                    f"({label(self.protocol.question(parent))}); change {position[parent]} first."
                )
                continue
            self.change(chosen)
            show = True


def wait_text(rule: Rule) -> str:
    """A rule's wait in words: "12 months", "4 weeks", "6 months and 2 weeks"."""
    parts = [(rule.months, "month"), (rule.weeks, "week"), (rule.days, "day")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n]
    return " and ".join(words)


def gate_rules(protocol: ScreeningProtocol, q: Question) -> list[Rule]:
    """The dated rules a yes at the gate before ``q`` is about: ``q``'s own for a question with a
    `gate_prompt`; every question's under a shared [[gates]] entry ("any procedure in the last 6
    months?" covers the five procedure dates). None when a rule has no end (``ever``): that gate
    asks about any time ("ever had radiation therapy?")."""
    if q.gate_prompt:
        group = [q]
    elif q.asked_if and protocol.gate(q.asked_if) is not None:
        group = [c for c in protocol.questions if c.asked_if == q.asked_if and c.type == "date"]
    else:
        return []
    rules = [r for c in group for r in c.rules]
    if any(r.ever for r in rules):
        return []
    return [r for r in rules if r.dated]


def outside_gate(protocol: ScreeningProtocol, q: Question, value: dt.date, on: dt.date) -> str | None:
    """The window a gate asked about (its longest wait, in words) when ``value`` lies before it:
    no dated rule under the gate still applies on ``on``. None when the date fits the gate."""
    from needlecli.screening import wait_end

    rules = gate_rules(protocol, q)
    if not rules or any(wait_end(r, value) > on for r in rules):
        return None
    longest = max(rules, key=lambda r: wait_end(r, value))
    return wait_text(longest)


def review_numbers(protocol: ScreeningProtocol) -> dict[str, str]:
    """Each question's number at the review, as the interview counts them ("5/28"): a main question
    its count, a follow-up that count and its place behind it ("21.1"; a gate's follow-ups take the
    gate's number)."""
    steps, _ = plan_steps(protocol, {}, [q.id for q in protocol.questions])
    out: dict[str, str] = {}
    count = behind = 0
    for step in steps:
        if step.counted:
            count, behind = count + 1, 0
            if step.question is not None:
                out[step.question.id] = str(count)
        elif step.question is not None:
            behind += 1
            out[step.question.id] = f"{count}.{behind}"
    return out


def answers_table(
    protocol: ScreeningProtocol,
    answers: dict[str, AnswerValue],
    gates: dict[str, bool] | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Table:
    """The review: every answer, numbered as the interview counted; a follow-up never asked (its
    question or gate answered no) says so instead of showing a "no" nobody gave. Narrower than 100
    columns, one line a question (no section column, a long question cut with "…"); on a terminal
    too short for a line each (80x24), two answers a line, so the whole review shows at once."""
    narrow = width is not None and width < 100
    numbers = review_numbers(protocol)
    rows: list[tuple[str, Text, Text, Text]] = []
    for q in protocol.questions:
        value = answers.get(q.id)
        shown = format_answer(q, value)
        if q.gate_prompt and value is None:
            shown = "no"
        parent = q.asked_if
        if (
            parent is not None
            and value in (None, False)
            and (
                (protocol.gate(parent) is not None and (gates or {}).get(parent) is False)
                or (protocol.gate(parent) is None and answers.get(parent) is False)
            )
        ):
            shown = "— not asked"
        style = "bold" if q.type in ("bool", "date") and value not in (False, None) else ""
        rows.append((numbers[q.id], Text(q.section), Text(label(q)), Text(shown, style=style)))
    table = Table(title="Answers", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=not narrow, expand=narrow)
    pairs = narrow and height is not None and height < len(rows) + 8
    for _ in range(2 if pairs else 1):
        table.add_column("#", justify="right", no_wrap=True)
        if not narrow:
            table.add_column("Section", no_wrap=True)
        table.add_column(
            "Question", no_wrap=narrow, overflow="ellipsis" if narrow else "fold", ratio=1 if narrow else None
        )
        table.add_column("Answer", no_wrap=True)
    if pairs:
        half = (len(rows) + 1) // 2
        for left, right in zip(rows[:half], [*rows[half:], None], strict=False):
            cells: list[str | Text] = [left[0], left[2], left[3]]
            cells += [right[0], right[2], right[3]] if right is not None else ["", "", ""]
            table.add_row(*cells)
        return table
    for number, section, question, answer in rows:
        table.add_row(number, *([] if narrow else [section]), question, answer)
    return table


def heading(protocol: ScreeningProtocol, on: dt.date) -> Text:
    """The interview's first line: the protocol's title (once), its name and version, the date."""
    title = protocol.info.title
    if "screening" not in title.lower():
        title = f"Screening · {title}"
    head = Text(title, style="bold")
    head.append(f" · {protocol.info.name} {protocol.info.version} · evaluated on {on.isoformat()}")
    return head


def run_interview(
    protocol: ScreeningProtocol,
    given: dict[str, AnswerValue],
    missing: list[str],
    on: dt.date,
    *,
    to_stderr: bool = False,
    order: str = "ISO",
    defaults: dict[str, AnswerValue] | None = None,
) -> dict[str, AnswerValue]:
    """Ask the missing questions, then let the user review and change any answer. Dates are read
    in the clinic's ``order`` (config `date_order`) and echoed in words."""
    console = Console(stderr=to_stderr, highlight=False)
    interview = Interview(console, protocol, on, dict(given), order)
    interview.defaults = dict(defaults or {})
    console.print(heading(protocol, on))
    interview.run(missing)
    interview.review()
    return interview.answers


def ask_patient_id(to_stderr: bool = False) -> str:
    """At the end of an interview without --patient: the id to keep the screening under in the
    clinic register ("" keeps nothing). Asked again until it is a usable id or empty."""
    from needlecli.errors import UsageError
    from needlecli.identity import check_patient

    console = Console(stderr=to_stderr, highlight=False)
    while True:
        try:
            reply = read_line(console, "Patient id to keep this screening under (Enter: keep nothing): ")
        except EOFError:
            return ""
        reply = reply.strip()
        if not reply:
            return ""
        try:
            return check_patient(reply, "patient id") or ""
        except UsageError as exc:
            console.print(Text(str(exc), style="red"))
